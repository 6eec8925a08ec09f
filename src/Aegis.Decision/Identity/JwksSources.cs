using Aegis.Policy.Signing;

namespace Aegis.Decision.Identity;

/// <summary>Where the current verification keys come from.</summary>
public interface IJwksSource
{
    /// <summary>The keys as last read successfully.</summary>
    JsonWebKeySet Current { get; }
}

/// <summary>
/// A JWKS fetched from a URL (the operator's <c>/.well-known/jwks.json</c>) and refreshed periodically. Rotation
/// works because the token service publishes a new key before it signs with it; a failed refresh keeps the old keys.
/// </summary>
public sealed partial class HttpJwksSource(Uri url, HttpClient http, TimeSpan refresh, ILogger<HttpJwksSource> logger) : BackgroundService, IJwksSource
{
    private JsonWebKeySet _current = new([]);

    public JsonWebKeySet Current => Volatile.Read(ref _current);

    /// <summary>Fetches once; returns false (keeping the old keys) on any failure.</summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var json = await http.GetStringAsync(url, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _current, JsonWebKeySet.Parse(json));
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or FormatException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogRefreshFailed(logger, url, e.Message);
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(refresh);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await RefreshAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "refreshing the JWKS from {Url} failed: {Reason}; keeping the current keys")]
    private static partial void LogRefreshFailed(ILogger logger, Uri url, string reason);
}
