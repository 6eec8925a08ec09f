using System.Collections.Concurrent;
using Aegis.Contracts.State;

namespace Aegis.State;

/// <summary>Budgets in process memory, for standalone mode and a single replica.</summary>
public sealed class InMemoryBudgetStore : IBudgetStore
{
    private readonly Dictionary<string, decimal> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Held> _reservations = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private int _reservedSinceSweep;

    public ValueTask<Spend> GetSpendAsync(string tenant, string agentId, TimeZoneInfo timeZone, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var (day, month, _, _) = BudgetPeriods.For(now, timeZone);
        lock (_lock)
        {
            return ValueTask.FromResult(new Spend(Get(Key(tenant, agentId, day)), Get(Key(tenant, agentId, month))));
        }
    }

    public ValueTask<Reservation> ReserveAsync(string tenant, string agentId, decimal cost, BudgetLimits limits, DateTimeOffset now, string? reservationId = null, CancellationToken cancellationToken = default)
    {
        var (day, month, _, monthEnd) = BudgetPeriods.For(now, limits.TimeZone);
        var dayKey = Key(tenant, agentId, day);
        var monthKey = Key(tenant, agentId, month);
        lock (_lock)
        {
            var today = Get(dayKey);
            var thisMonth = Get(monthKey);
            if ((limits.Daily is { } d && today + cost > d) || (limits.Monthly is { } m && thisMonth + cost > m))
            {
                return ValueTask.FromResult(new Reservation(false, new Spend(today, thisMonth)));
            }

            _counters[dayKey] = today + cost;
            _counters[monthKey] = thisMonth + cost;
            if (reservationId is not null)
            {
                // Reservations outlive their month by a day, as in Redis; sweeping now and then keeps memory bounded.
                if (++_reservedSinceSweep >= 10_000)
                {
                    _reservedSinceSweep = 0;
                    _reservations.Where(r => r.Value.Expires < now).Select(r => r.Key).ToList().ForEach(k => _reservations.Remove(k));
                }

                _reservations[tenant + "\n" + reservationId] = new Held(dayKey, monthKey, cost, monthEnd.AddDays(1));
            }

            return ValueTask.FromResult(new Reservation(true, new Spend(today + cost, thisMonth + cost)));
        }
    }

    public ValueTask<Settlement> SettleAsync(string tenant, string reservationId, decimal actual, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actual);
        lock (_lock)
        {
            if (!_reservations.TryGetValue(tenant + "\n" + reservationId, out var held))
            {
                return ValueTask.FromResult(new Settlement(SettlementStatus.Unknown, 0m, null));
            }

            if (held.Settled)
            {
                return ValueTask.FromResult(new Settlement(SettlementStatus.AlreadySettled, held.Reserved, new Spend(Get(held.DayKey), Get(held.MonthKey))));
            }

            held.Settled = true;
            var delta = actual - held.Reserved;
            _counters[held.DayKey] = Math.Max(0, Get(held.DayKey) + delta);
            _counters[held.MonthKey] = Math.Max(0, Get(held.MonthKey) + delta);
            return ValueTask.FromResult(new Settlement(SettlementStatus.Settled, held.Reserved, new Spend(_counters[held.DayKey], _counters[held.MonthKey])));
        }
    }

    public ValueTask<IReadOnlyList<AgentSpendReading>> ListSpendAsync(string tenant, TimeZoneInfo timeZone, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var (day, month, _, _) = BudgetPeriods.For(now, timeZone);
        var monthSuffix = "\n" + month;
        lock (_lock)
        {
            IReadOnlyList<AgentSpendReading> readings = [.. _counters.Keys
                .Where(k => k.StartsWith(tenant + "\n", StringComparison.Ordinal) && k.EndsWith(monthSuffix, StringComparison.Ordinal))
                .Select(k => k[(tenant.Length + 1)..^monthSuffix.Length])
                .Order(StringComparer.Ordinal)
                .Select(agent => new AgentSpendReading(agent, new Spend(Get(Key(tenant, agent, day)), Get(Key(tenant, agent, month)))))];
            return ValueTask.FromResult(readings);
        }
    }

    private decimal Get(string key) => _counters.TryGetValue(key, out var v) ? v : 0m;

    private static string Key(string tenant, string agentId, string period) => $"{tenant}\n{agentId}\n{period}";

    /// <summary>A reservation that can be settled once: the counters it was added to and its amount.</summary>
    private sealed class Held(string dayKey, string monthKey, decimal reserved, DateTimeOffset expires)
    {
        public string DayKey { get; } = dayKey;
        public string MonthKey { get; } = monthKey;
        public decimal Reserved { get; } = reserved;
        public DateTimeOffset Expires { get; } = expires;
        public bool Settled { get; set; }
    }
}

/// <summary>Token buckets in process memory.</summary>
public sealed class InMemoryRateLimiter : IRateLimiter
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    public ValueTask<RateDecision> TryAcquireAsync(string key, int requestsPerMinute, int burst, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var capacity = Math.Max(1, burst);
        var perSecond = requestsPerMinute / 60.0;
        var bucket = _buckets.GetOrAdd(key, _ => new Bucket(capacity, now));
        lock (bucket)
        {
            var elapsed = Math.Max(0, (now - bucket.Updated).TotalSeconds);
            bucket.Tokens = Math.Min(capacity, bucket.Tokens + (elapsed * perSecond));
            bucket.Updated = now;
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                return ValueTask.FromResult(new RateDecision(true, TimeSpan.Zero));
            }

            var wait = perSecond > 0 ? TimeSpan.FromSeconds((1 - bucket.Tokens) / perSecond) : TimeSpan.FromMinutes(1);
            return ValueTask.FromResult(new RateDecision(false, wait));
        }
    }

    private sealed class Bucket(double tokens, DateTimeOffset updated)
    {
        public double Tokens { get; set; } = tokens;
        public DateTimeOffset Updated { get; set; } = updated;
    }
}

/// <summary>Consumed token ids and the revocation list in process memory, forgotten after the tokens would have expired.</summary>
public sealed class InMemoryTokenIdStore : ITokenIdStore
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _consumed = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private List<TokenRevocation> _revocations = [];
    private long _version;

    public InMemoryTokenIdStore(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    public ValueTask<bool> TryConsumeAsync(string jti, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        Sweep(_consumed);
        return ValueTask.FromResult(_consumed.TryAdd(jti, expiresAt));
    }

    public ValueTask RevokeAsync(TokenRevocation revocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            // Copy on write: a snapshot handed out earlier never changes under its reader.
            _revocations = [.. _revocations.Where(r => r.ForgetAt > now), revocation];
            _version++;
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<RevocationSnapshot?> ListRevocationsAsync(long sinceVersion, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(sinceVersion == _version ? null : new RevocationSnapshot(_version, [.. _revocations.Where(r => r.ForgetAt > now)]));
        }
    }

    private void Sweep(ConcurrentDictionary<string, DateTimeOffset> ids)
    {
        // Expired ids can never be presented again (the token is refused as expired), so they need no memory.
        if (ids.Count < 1024)
        {
            return;
        }

        var now = _time.GetUtcNow() - TimeSpan.FromMinutes(1);
        foreach (var (jti, expires) in ids)
        {
            if (expires < now)
            {
                ids.TryRemove(jti, out _);
            }
        }
    }
}
