using System.Net;
using k8s;
using k8s.Autorest;

namespace Aegis.Operator.Tokens;

/// <summary>
/// Reads the org-key Secret (one data entry per key id) and keeps it for a short time, so a burst of token requests
/// costs one API read and a revoked key stops working within <see cref="CacheFor"/>.
/// </summary>
public sealed partial class OrgKeyStore(IKubernetes client, string ns, string secretName, TimeProvider time, ILogger<OrgKeyStore> logger)
{
    private Snapshot? _cache;

    /// <summary>How long a read of the Secret is reused.</summary>
    public TimeSpan CacheFor { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The grant for <paramref name="id"/>, or null when there is none (or its entry is malformed, which is logged).</summary>
    public async Task<OrgKeyGrant?> FindAsync(string id, CancellationToken cancellationToken = default)
    {
        var grants = await GrantsAsync(cancellationToken).ConfigureAwait(false);
        return grants.GetValueOrDefault(id);
    }

    private async Task<IReadOnlyDictionary<string, OrgKeyGrant>> GrantsAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (Volatile.Read(ref _cache) is { } cached && now - cached.ReadAt < CacheFor)
        {
            return cached.Grants;
        }

        // Concurrent misses may each read once; that is cheaper than serialising every request behind one read.
        var grants = new Dictionary<string, OrgKeyGrant>(StringComparer.Ordinal);
        try
        {
            var secret = await client.CoreV1.ReadNamespacedSecretAsync(secretName, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var (id, value) in secret.Data ?? new Dictionary<string, byte[]>())
            {
                try
                {
                    grants[id] = OrgKeys.Parse(value);
                }
                catch (FormatException e)
                {
                    LogBadEntry(logger, ns, secretName, id, e.Message);
                }
            }
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // No Secret means no org keys: every request is refused, which is the safe reading.
        }

        Volatile.Write(ref _cache, new Snapshot(now, grants));
        return grants;
    }

    private sealed record Snapshot(DateTimeOffset ReadAt, IReadOnlyDictionary<string, OrgKeyGrant> Grants);

    [LoggerMessage(Level = LogLevel.Warning, Message = "org-key Secret {Namespace}/{Name}: entry {Id} is ignored: {Reason}")]
    private static partial void LogBadEntry(ILogger logger, string @namespace, string name, string id, string reason);
}
