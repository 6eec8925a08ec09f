namespace Aegis.Contracts.State;

/// <summary>Thrown by a store whose backing service (Redis) cannot be reached; callers deny with budget_store_unavailable.</summary>
public sealed class StateStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The limits a reservation is checked against, and the time zone that sets the period boundaries.</summary>
public sealed record BudgetLimits(decimal? Daily, decimal? Monthly, TimeZoneInfo TimeZone);

/// <summary>Spend of one agent in the current day and month.</summary>
public sealed record Spend(decimal Today, decimal ThisMonth);

/// <summary>One agent's spend as a budget store holds it.</summary>
public sealed record AgentSpendReading(string AgentId, Spend Spend);

/// <summary>The outcome of a reservation: whether it fit, and the spend after it (or as it stood, if refused).</summary>
public sealed record Reservation(bool Reserved, Spend Spend);

/// <summary>What settling a reservation did.</summary>
public enum SettlementStatus
{
    /// <summary>The reservation was corrected to the actual cost, now, for the first and only time.</summary>
    Settled,

    /// <summary>It had been settled before: nothing changed (settlement happens exactly once).</summary>
    AlreadySettled,

    /// <summary>No such reservation (never made with an id, or expired with its budget period).</summary>
    Unknown,
}

/// <summary>The outcome of settling a reservation, with what was reserved and the spend after it.</summary>
public sealed record Settlement(SettlementStatus Status, decimal Reserved, Spend? Spend);

/// <summary>
/// Per tenant and agent spend counters for the current day and month. Reserve checks and adds atomically, so
/// concurrent replicas can never overspend by more than one call's estimate; a reservation made with an id is
/// settled once, by that id, to the cost the sidecar measured.
/// </summary>
public interface IBudgetStore
{
    ValueTask<Spend> GetSpendAsync(string tenant, string agentId, TimeZoneInfo timeZone, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds <paramref name="cost"/> to the day and month when both stay within <paramref name="limits"/>. With a
    /// <paramref name="reservationId"/> the reservation is remembered (until its month ends) so it can be settled.
    /// </summary>
    ValueTask<Reservation> ReserveAsync(string tenant, string agentId, decimal cost, BudgetLimits limits, DateTimeOffset now, string? reservationId = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Corrects reservation <paramref name="reservationId"/> of <paramref name="tenant"/> to <paramref name="actual"/>
    /// (≥ 0) in the day and month it was made in, exactly once across every replica: later calls change nothing.
    /// </summary>
    ValueTask<Settlement> SettleAsync(string tenant, string reservationId, decimal actual, CancellationToken cancellationToken = default);

    /// <summary>Every agent of <paramref name="tenant"/> with spend this month, ordered by agent id (for status, never for decisions).</summary>
    ValueTask<IReadOnlyList<AgentSpendReading>> ListSpendAsync(string tenant, TimeZoneInfo timeZone, DateTimeOffset now, CancellationToken cancellationToken = default);
}

/// <summary>The outcome of asking a rate limiter for one request.</summary>
public readonly record struct RateDecision(bool Allowed, TimeSpan RetryAfter);

/// <summary>Token buckets keyed by tenant, agent and budget.</summary>
public interface IRateLimiter
{
    ValueTask<RateDecision> TryAcquireAsync(string key, int requestsPerMinute, int burst, DateTimeOffset now, CancellationToken cancellationToken = default);
}

/// <summary>
/// A revocation: one token id (of one tenant, when <see cref="Tenant"/> is set), or, with no jti, every token of
/// <see cref="Tenant"/>/<see cref="AgentId"/> issued at or before <see cref="RevokedAt"/>.
/// </summary>
public sealed record TokenRevocation
{
    public string? Jti { get; init; }
    public string? Tenant { get; init; }
    public string? AgentId { get; init; }
    public required DateTimeOffset RevokedAt { get; init; }

    /// <summary>When the entry can be forgotten: every token it can match has expired by then.</summary>
    public required DateTimeOffset ForgetAt { get; init; }

    /// <summary>Why, as the person revoking said it (logs and audit only).</summary>
    public string? Reason { get; init; }

    /// <summary>Who revoked (the authenticated Kubernetes user, or "standalone-admin").</summary>
    public string? RevokedBy { get; init; }
}

/// <summary>Single-use token ids that were consumed, and the revocation list.</summary>
public interface ITokenIdStore
{
    /// <summary>Consumes <paramref name="jti"/>: true the first time, false on every later call (a replay).</summary>
    ValueTask<bool> TryConsumeAsync(string jti, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);

    /// <summary>Adds a revocation; every replica's next refresh of the list sees it.</summary>
    ValueTask RevokeAsync(TokenRevocation revocation, CancellationToken cancellationToken = default);

    /// <summary>
    /// The revocations not yet forgotten at <paramref name="now"/>, or null when nothing changed since the list
    /// returned with <paramref name="sinceVersion"/> (a cheap poll). <see cref="RevocationSnapshot.Version"/> goes
    /// up with every write.
    /// </summary>
    ValueTask<RevocationSnapshot?> ListRevocationsAsync(long sinceVersion, DateTimeOffset now, CancellationToken cancellationToken = default);
}

/// <summary>The revocation list at one version.</summary>
public sealed record RevocationSnapshot(long Version, IReadOnlyList<TokenRevocation> Revocations);

/// <summary>Day and month period keys and their ends, in a budget's time zone.</summary>
public static class BudgetPeriods
{
    /// <summary>("2026-11-26", "2026-11", end of day, end of month) for <paramref name="now"/> in <paramref name="zone"/>.</summary>
    public static (string Day, string Month, DateTimeOffset DayEnd, DateTimeOffset MonthEnd) For(DateTimeOffset now, TimeZoneInfo zone)
    {
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var dayStart = new DateTime(local.Year, local.Month, local.Day, 0, 0, 0, DateTimeKind.Unspecified);
        var dayEnd = ToInstant(dayStart.AddDays(1), zone);
        var monthEnd = ToInstant(new DateTime(local.Year, local.Month, 1, 0, 0, 0, DateTimeKind.Unspecified).AddMonths(1), zone);
        return (local.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            local.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), dayEnd, monthEnd);
    }

    private static DateTimeOffset ToInstant(DateTime localMidnight, TimeZoneInfo zone)
    {
        // Midnight can fall in a DST gap (some zones switch at 00:00): take the first valid instant after it.
        while (zone.IsInvalidTime(localMidnight))
        {
            localMidnight = localMidnight.AddMinutes(30);
        }

        return new DateTimeOffset(localMidnight, zone.GetUtcOffset(localMidnight));
    }
}

/// <summary>Where the decision server's state lives; in-memory for standalone mode, Redis in clusters.</summary>
public sealed record DecisionState(IBudgetStore Budgets, IRateLimiter RateLimits, ITokenIdStore TokenIds)
{
    /// <summary>Approvals granted and waiting for the call they cover; none when null (approvals then only refuse).</summary>
    public IApprovalGrants? Grants { get; init; }
}
