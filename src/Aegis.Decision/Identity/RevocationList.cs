using Aegis.Contracts.State;
using Aegis.Policy.Identity;

namespace Aegis.Decision.Identity;

/// <summary>
/// This replica's copy of the revocation list, refreshed from the token-id store every
/// <see cref="RefreshInterval"/> (one cheap version poll; the list itself only when it changed), so checking a
/// token never waits on Redis. A revocation reaches every replica within one interval plus a Redis round trip.
/// When the list has never been read, or no refresh has succeeded for <see cref="MaxStaleness"/>, every token is
/// refused with <see cref="TokenRejection.RevocationUnknown"/>: an unknown list could hold any token.
/// </summary>
public sealed partial class RevocationList(ITokenIdStore store, TimeProvider time, ILogger<RevocationList> logger) : BackgroundService
{
    private Snapshot? _current;

    /// <summary>How often the store is polled.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the copy may go without a successful refresh before tokens are refused; infinite for a store in
    /// this process (standalone in-memory mode), whose reads cannot fail.
    /// </summary>
    public TimeSpan MaxStaleness { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether the list is current enough to decide with (readiness and tests).</summary>
    public bool IsCurrent => Volatile.Read(ref _current) is { } s && Fresh(s, time.GetUtcNow());

    /// <summary>Null when <paramref name="token"/> may be used; otherwise the reason it may not.</summary>
    public string? Check(AgentToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var snapshot = Volatile.Read(ref _current);
        var now = time.GetUtcNow();
        if (snapshot is null || !Fresh(snapshot, now))
        {
            return TokenRejection.RevocationUnknown;
        }

        if (snapshot.ByJti.TryGetValue(token.Jti, out var entries))
        {
            foreach (var entry in entries)
            {
                if ((entry.Tenant is null || entry.Tenant == token.Tenant) && entry.ForgetAt > now)
                {
                    return TokenRejection.Revoked;
                }
            }
        }

        return snapshot.ByAgent.TryGetValue((token.Tenant, token.AgentId), out var revokedAt) && token.IssuedAt <= revokedAt
            ? TokenRejection.Revoked
            : null;
    }

    /// <summary>Reads the store once; false (keeping the old copy, which ages) when it cannot be read.</summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken = default)
    {
        var previous = Volatile.Read(ref _current);
        var now = time.GetUtcNow();
        try
        {
            var listed = await store.ListRevocationsAsync(previous?.Version ?? -1, now, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _current, listed is null ? previous! with { ReadAt = now } : Snapshot.From(listed, now));
            if (previous is not null && !Fresh(previous, now))
            {
                LogRecovered(logger);
            }

            return true;
        }
        catch (StateStoreUnavailableException e)
        {
            LogRefreshFailed(logger, e.Message, previous is null || !Fresh(previous, now));
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RefreshInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await RefreshAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    private bool Fresh(Snapshot snapshot, DateTimeOffset now) => MaxStaleness == Timeout.InfiniteTimeSpan || now - snapshot.ReadAt <= MaxStaleness;

    private sealed record Snapshot(long Version, DateTimeOffset ReadAt, Dictionary<string, List<TokenRevocation>> ByJti, Dictionary<(string Tenant, string Agent), DateTimeOffset> ByAgent)
    {
        public static Snapshot From(RevocationSnapshot listed, DateTimeOffset now)
        {
            var byJti = new Dictionary<string, List<TokenRevocation>>(StringComparer.Ordinal);
            var byAgent = new Dictionary<(string, string), DateTimeOffset>();
            foreach (var revocation in listed.Revocations)
            {
                if (revocation.Jti is { } jti)
                {
                    if (!byJti.TryGetValue(jti, out var list))
                    {
                        byJti[jti] = list = [];
                    }

                    list.Add(revocation);
                }
                else if (revocation is { Tenant: { } tenant, AgentId: { } agent })
                {
                    var key = (tenant, agent);
                    if (!byAgent.TryGetValue(key, out var at) || revocation.RevokedAt > at)
                    {
                        byAgent[key] = revocation.RevokedAt;
                    }
                }
            }

            return new Snapshot(listed.Version, now, byJti, byAgent);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "reading the revocation list failed: {Reason}; tokens refused while it is unknown: {Refusing}")]
    private static partial void LogRefreshFailed(ILogger logger, string reason, bool refusing);

    [LoggerMessage(Level = LogLevel.Information, Message = "the revocation list is readable again; tokens are accepted")]
    private static partial void LogRecovered(ILogger logger);
}
