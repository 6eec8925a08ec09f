using System.Net;
using System.Net.Http.Headers;
using Aegis.Policy.Bundles;

namespace Aegis.Decision.Bundles;

/// <summary>
/// Polls each tenant's bundle over HTTP(S) with <c>If-None-Match</c> (the operator's <c>/bundles/{tenant}</c> by
/// default). A 304 costs nothing; a 200 is verified before it is swapped in; any failure keeps the last good bundle.
/// A body is read only up to <see cref="BundleLayout.MaxArchiveBytes"/>, whether it declares its length or is
/// chunked; a larger one is refused (<c>bundle_too_large</c>) without being held in memory.
/// </summary>
public sealed partial class HttpBundleSource(string urlTemplate, IReadOnlyList<string> tenants, BundleStore store, HttpClient http, TimeSpan interval, ILogger<HttpBundleSource> logger) : BackgroundService
{
    private readonly Dictionary<string, string> _etags = new(StringComparer.Ordinal);

    /// <summary>The URL of a tenant's bundle: <c>{tenant}</c> in the template is replaced.</summary>
    public Uri UrlFor(string tenant) => new(urlTemplate.Replace("{tenant}", Uri.EscapeDataString(tenant), StringComparison.Ordinal));

    /// <summary>Polls every tenant once; returns how many bundles changed.</summary>
    public async Task<int> PollOnceAsync(CancellationToken cancellationToken = default)
    {
        var changed = 0;
        foreach (var tenant in tenants)
        {
            var url = UrlFor(tenant);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                if (_etags.TryGetValue(tenant, out var etag))
                {
                    request.Headers.IfNoneMatch.Add(EntityTagHeaderValue.Parse(etag));
                }

                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotModified)
                {
                    continue;
                }

                if (!response.IsSuccessStatusCode)
                {
                    LogPollFailed(logger, tenant, url, $"HTTP {(int)response.StatusCode}");
                    continue;
                }

                if (await ReadCappedAsync(response.Content, cancellationToken).ConfigureAwait(false) is not { } bytes)
                {
                    store.RefuseTooLarge(tenant, url.ToString(), $"the response is larger than {BundleLayout.MaxArchiveBytes:N0} bytes");
                    continue;
                }

                var offer = store.Offer(tenant, bytes, url.ToString());
                if (offer.Accepted && response.Headers.ETag is { } newTag)
                {
                    // Only a verified bundle's ETag is remembered, so a refused one is fetched (and refused) again.
                    _etags[tenant] = newTag.ToString();
                }

                if (offer.Changed)
                {
                    changed++;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException && !cancellationToken.IsCancellationRequested)
            {
                LogPollFailed(logger, tenant, url, e.Message);
            }
        }

        return changed;
    }

    /// <summary>The body, or null when it is (or declares itself) larger than a bundle may be.</summary>
    private static async Task<byte[]?> ReadCappedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > BundleLayout.MaxArchiveBytes)
        {
            return null;
        }

        await using var body = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > BundleLayout.MaxArchiveBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval);
        do
        {
            await PollOnceAsync(stoppingToken).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "polling the bundle of tenant {Tenant} from {Url} failed: {Reason}; keeping the last good one")]
    private static partial void LogPollFailed(ILogger logger, string tenant, Uri url, string reason);
}
