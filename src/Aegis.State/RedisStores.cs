using System.Globalization;
using Aegis.Contracts.State;
using StackExchange.Redis;

namespace Aegis.State;

/// <summary>
/// The shared state of a cluster of decision servers in Redis: budgets, rate limits and token ids. Each operation
/// is one Lua script or one atomic command, so replicas racing each other stay consistent. When Redis cannot be
/// reached, operations throw <see cref="StateStoreUnavailableException"/> quickly, and the connection recovers by
/// itself.
/// </summary>
public sealed class RedisState : IAsyncDisposable
{
    private RedisState(ConnectionMultiplexer connection, string prefix)
    {
        Connection = connection;
        Budgets = new RedisBudgetStore(connection, prefix);
        RateLimits = new RedisRateLimiter(connection, prefix);
        TokenIds = new RedisTokenIdStore(connection, prefix);
        Grants = new RedisApprovalGrants(connection, prefix);
    }

    public ConnectionMultiplexer Connection { get; }
    public RedisBudgetStore Budgets { get; }
    public RedisRateLimiter RateLimits { get; }
    public RedisTokenIdStore TokenIds { get; }
    public RedisApprovalGrants Grants { get; }

    /// <summary>The stores as the decision service takes them.</summary>
    public DecisionState AsDecisionState() => new(Budgets, RateLimits, TokenIds) { Grants = Grants };

    /// <summary>
    /// Connects to <paramref name="configuration"/> ("host:port,password=..." or a redis:// URL). Start-up does not
    /// wait for Redis: a server whose Redis is down still starts and denies what needs Redis until it is back.
    /// </summary>
    public static async Task<RedisState> ConnectAsync(string configuration, string prefix = "aegis:", TimeSpan? timeout = null)
    {
        var options = ConfigurationOptions.Parse(ToStackExchange(configuration));
        options.AbortOnConnectFail = false;
        var ms = (int)(timeout ?? TimeSpan.FromMilliseconds(500)).TotalMilliseconds;
        options.ConnectTimeout = ms;
        options.SyncTimeout = ms;
        options.AsyncTimeout = ms;
        options.ConnectRetry = 1;
        options.ReconnectRetryPolicy = new LinearRetry(250);
        options.ClientName = "aegis-decision";
        var connection = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        return new RedisState(connection, prefix);
    }

    private static string ToStackExchange(string configuration)
    {
        if (!Uri.TryCreate(configuration, UriKind.Absolute, out var uri) || uri.Scheme is not ("redis" or "rediss"))
        {
            return configuration;
        }

        var parts = new List<string> { $"{uri.Host}:{(uri.Port > 0 ? uri.Port : 6379)}" };
        if (uri.UserInfo.Length > 0)
        {
            var user = Uri.UnescapeDataString(uri.UserInfo);
            var colon = user.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                parts.Add("user=" + user[..colon]);
            }

            parts.Add("password=" + (colon >= 0 ? user[(colon + 1)..] : user));
        }

        if (uri.Scheme == "rediss")
        {
            parts.Add("ssl=true");
        }

        if (uri.AbsolutePath.Trim('/') is { Length: > 0 } db)
        {
            parts.Add("defaultDatabase=" + db);
        }

        return string.Join(',', parts);
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.CloseAsync().ConfigureAwait(false);
        Connection.Dispose();
    }

    /// <summary>Runs a Redis call, turning connection and timeout failures into <see cref="StateStoreUnavailableException"/>.</summary>
    internal static async Task<T> GuardAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
        {
            throw new StateStoreUnavailableException("Redis is unavailable: " + e.Message, e);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("LOADING", StringComparison.Ordinal) || e.Message.StartsWith("BUSY", StringComparison.Ordinal))
        {
            throw new StateStoreUnavailableException("Redis is not ready: " + e.Message, e);
        }
    }

    /// <summary>Money as integer micro-dollars, which Lua adds exactly (doubles hold integers to 2^53).</summary>
    internal static long ToMicros(decimal amount) => (long)decimal.Round(amount * 1_000_000m, MidpointRounding.ToEven);

    internal static decimal FromMicros(long micros) => micros / 1_000_000m;
}

/// <summary>Budget counters per tenant, agent, day and month, as integer micro-dollars expiring at the period's end.</summary>
public sealed class RedisBudgetStore(ConnectionMultiplexer connection, string prefix) : IBudgetStore
{
    // Check both limits and add to both counters in one step: no replica can slip in between.
    // Limits of -1 mean "no limit"; expiries are unix seconds of the period ends.
    private static readonly LuaScript Reserve = LuaScript.Prepare("""
        local d = tonumber(redis.call('GET', @day) or '0')
        local m = tonumber(redis.call('GET', @month) or '0')
        local cost = tonumber(@cost)
        local dl = tonumber(@daily)
        local ml = tonumber(@monthly)
        if (dl >= 0 and d + cost > dl) or (ml >= 0 and m + cost > ml) then
          return {0, d, m}
        end
        d = redis.call('INCRBY', @day, cost)
        m = redis.call('INCRBY', @month, cost)
        redis.call('EXPIREAT', @day, @dayEnd)
        redis.call('EXPIREAT', @month, @monthEnd)
        if @reservation ~= '' then
          redis.call('HSET', @reservation, 'd', @day, 'm', @month, 'r', cost)
          redis.call('EXPIREAT', @reservation, @monthEnd + 86400)
        end
        return {1, d, m}
        """);

    // Settles a reservation once: the 's' field marks it, so a second settle (any replica) changes nothing.
    // The counters it names live in the same tenant hash slot as the reservation.
    private static readonly LuaScript Settle = LuaScript.Prepare("""
        local held = redis.call('HMGET', @reservation, 'd', 'm', 'r', 's')
        if not held[1] then
          return {0, 0, 0, 0}
        end
        if held[4] then
          return {2, tonumber(held[3]), tonumber(redis.call('GET', held[1]) or '0'), tonumber(redis.call('GET', held[2]) or '0')}
        end
        redis.call('HSET', @reservation, 's', '1')
        local delta = tonumber(@actual) - tonumber(held[3])
        local function adjust(key)
          local v = tonumber(redis.call('GET', key) or '0') + delta
          if v < 0 then v = 0 end
          redis.call('SET', key, v, 'KEEPTTL')
          return v
        end
        return {1, tonumber(held[3]), adjust(held[1]), adjust(held[2])}
        """);

    public async ValueTask<Spend> GetSpendAsync(string tenant, string agentId, TimeZoneInfo timeZone, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var (day, month) = Keys(tenant, agentId, now, timeZone);
        var values = await RedisState.GuardAsync(() => connection.GetDatabase().StringGetAsync([day.Key, month.Key])).ConfigureAwait(false);
        return new Spend(Micros(values[0]), Micros(values[1]));
    }

    public async ValueTask<Reservation> ReserveAsync(string tenant, string agentId, decimal cost, BudgetLimits limits, DateTimeOffset now, string? reservationId = null, CancellationToken cancellationToken = default)
    {
        var (day, month) = Keys(tenant, agentId, now, limits.TimeZone);
        var result = (RedisResult[])(await RedisState.GuardAsync(() => connection.GetDatabase().ScriptEvaluateAsync(Reserve, new
        {
            day = day.Key,
            month = month.Key,
            cost = RedisState.ToMicros(cost),
            daily = limits.Daily is { } d ? RedisState.ToMicros(d) : -1,
            monthly = limits.Monthly is { } m ? RedisState.ToMicros(m) : -1,
            dayEnd = day.End.ToUnixTimeSeconds(),
            monthEnd = month.End.ToUnixTimeSeconds(),
            reservation = reservationId is null ? (RedisKey)"" : ReservationKey(tenant, reservationId),
        })).ConfigureAwait(false))!;
        return new Reservation((long)result[0] == 1, new Spend(RedisState.FromMicros((long)result[1]), RedisState.FromMicros((long)result[2])));
    }

    public async ValueTask<Settlement> SettleAsync(string tenant, string reservationId, decimal actual, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actual);
        var result = (RedisResult[])(await RedisState.GuardAsync(() => connection.GetDatabase().ScriptEvaluateAsync(Settle, new
        {
            reservation = ReservationKey(tenant, reservationId),
            actual = RedisState.ToMicros(actual),
        })).ConfigureAwait(false))!;
        var status = (long)result[0] switch { 1 => SettlementStatus.Settled, 2 => SettlementStatus.AlreadySettled, _ => SettlementStatus.Unknown };
        return status == SettlementStatus.Unknown
            ? new Settlement(status, 0m, null)
            : new Settlement(status, RedisState.FromMicros((long)result[1]), new Spend(RedisState.FromMicros((long)result[2]), RedisState.FromMicros((long)result[3])));
    }

    public async ValueTask<IReadOnlyList<AgentSpendReading>> ListSpendAsync(string tenant, TimeZoneInfo timeZone, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var (_, month, _, _) = BudgetPeriods.For(now, timeZone);
        var root = TenantRoot(tenant);
        var suffix = $":m:{month}";

        // SCAN, not KEYS: it never blocks Redis. All of a tenant's keys share one slot, so one primary holds them.
        var agents = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var server in connection.GetServers().Where(s => !s.IsReplica && s.IsConnected))
        {
            await foreach (var key in server.KeysAsync(pattern: GlobEscape(root) + "*" + suffix, pageSize: 500).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                var name = (string)key!;
                agents.Add(name[root.Length..^suffix.Length]);
            }
        }

        var readings = new List<AgentSpendReading>(agents.Count);
        foreach (var agent in agents)
        {
            readings.Add(new AgentSpendReading(agent, await GetSpendAsync(tenant, agent, timeZone, now, cancellationToken).ConfigureAwait(false)));
        }

        return readings;
    }

    private ((RedisKey Key, DateTimeOffset End) Day, (RedisKey Key, DateTimeOffset End) Month) Keys(string tenant, string agentId, DateTimeOffset now, TimeZoneInfo zone)
    {
        var (day, month, dayEnd, monthEnd) = BudgetPeriods.For(now, zone);
        var root = TenantRoot(tenant) + agentId;
        return (($"{root}:d:{day}", dayEnd), ($"{root}:m:{month}", monthEnd));
    }

    // The tenant in braces is the hash tag: one tenant's keys live on one Redis Cluster slot.
    private string TenantRoot(string tenant) => $"{prefix}budget:{{{tenant}}}:";

    // In the tenant's slot beside its counters, but outside the "budget:{tenant}:" prefix that ListSpendAsync scans.
    private RedisKey ReservationKey(string tenant, string reservationId) => $"{prefix}budget:{{{tenant}}}|r:{reservationId}";

    private static string GlobEscape(string text) =>
        System.Text.RegularExpressions.Regex.Replace(text, @"[*?\[\]\\]", @"\$0");

    private static decimal Micros(RedisValue value) =>
        value.IsNull ? 0m : RedisState.FromMicros(long.Parse(value.ToString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
}

/// <summary>Token buckets in Redis: one hash per key with the tokens left and the time they were counted.</summary>
public sealed class RedisRateLimiter(ConnectionMultiplexer connection, string prefix) : IRateLimiter
{
    private static readonly LuaScript Take = LuaScript.Prepare("""
        local state = redis.call('HMGET', @key, 'tokens', 'at')
        local capacity = tonumber(@capacity)
        local rate = tonumber(@rate)
        local now = tonumber(@now)
        local tokens = tonumber(state[1]) or capacity
        local at = tonumber(state[2]) or now
        if now > at then tokens = math.min(capacity, tokens + (now - at) * rate) end
        local allowed = 0
        if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
        redis.call('HSET', @key, 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
        redis.call('PEXPIRE', @key, math.ceil(capacity / rate) + 1000)
        return {allowed, tostring(tokens)}
        """);

    public async ValueTask<RateDecision> TryAcquireAsync(string key, int requestsPerMinute, int burst, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var perMs = requestsPerMinute / 60_000.0;
        var result = (RedisResult[])(await RedisState.GuardAsync(() => connection.GetDatabase().ScriptEvaluateAsync(Take, new
        {
            key = (RedisKey)$"{prefix}rate:{key}",
            capacity = Math.Max(1, burst),
            rate = perMs.ToString("R", CultureInfo.InvariantCulture),
            now = now.ToUnixTimeMilliseconds(),
        })).ConfigureAwait(false))!;
        if ((long)result[0] == 1)
        {
            return new RateDecision(true, TimeSpan.Zero);
        }

        var tokens = double.Parse(result[1].ToString()!, CultureInfo.InvariantCulture);
        return new RateDecision(false, TimeSpan.FromMilliseconds(perMs > 0 ? (1 - tokens) / perMs : 60_000));
    }
}

/// <summary>
/// Single-use token ids (SET NX with the token's expiry) and the revocation list: a sorted set of revocations (JSON,
/// scored by when they may be forgotten) beside a version counter that every write increments in the same
/// transaction, so replicas poll one GET per interval and read the set only when it changed.
/// </summary>
public sealed class RedisTokenIdStore(ConnectionMultiplexer connection, string prefix) : ITokenIdStore
{
    private static readonly System.Text.Json.JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private RedisKey RevocationsKey => $"{prefix}revocations";

    private RedisKey VersionKey => $"{prefix}revocations:version";

    public async ValueTask<bool> TryConsumeAsync(string jti, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        var ttl = expiresAt - DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1);
        return await RedisState.GuardAsync(() => connection.GetDatabase().StringSetAsync($"{prefix}jti:{jti}", "1", ttl > TimeSpan.Zero ? ttl : TimeSpan.FromMinutes(1), When.NotExists)).ConfigureAwait(false);
    }

    public async ValueTask RevokeAsync(TokenRevocation revocation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        var member = System.Text.Json.JsonSerializer.Serialize(revocation, Json);
        var transaction = connection.GetDatabase().CreateTransaction();
        _ = transaction.SortedSetAddAsync(RevocationsKey, member, revocation.ForgetAt.ToUnixTimeMilliseconds());

        // Entries past their time can never match a valid token again; trim them on the way.
        _ = transaction.SortedSetRemoveRangeByScoreAsync(RevocationsKey, double.NegativeInfinity, revocation.RevokedAt.ToUnixTimeMilliseconds() - 1, Exclude.None);
        _ = transaction.StringIncrementAsync(VersionKey);
        if (!await RedisState.GuardAsync(() => transaction.ExecuteAsync()).ConfigureAwait(false))
        {
            throw new StateStoreUnavailableException("Redis did not commit the revocation");
        }
    }

    public async ValueTask<RevocationSnapshot?> ListRevocationsAsync(long sinceVersion, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var db = connection.GetDatabase();
        var version = await RedisState.GuardAsync(() => db.StringGetAsync(VersionKey)).ConfigureAwait(false);
        var current = version.IsNull ? 0 : (long)version;
        if (current == sinceVersion)
        {
            return null;
        }

        var members = await RedisState.GuardAsync(() => db.SortedSetRangeByScoreAsync(RevocationsKey, now.ToUnixTimeMilliseconds(), double.PositiveInfinity, Exclude.Start)).ConfigureAwait(false);
        var revocations = new List<TokenRevocation>(members.Length);
        foreach (var member in members)
        {
            try
            {
                revocations.Add(System.Text.Json.JsonSerializer.Deserialize<TokenRevocation>(member.ToString(), Json)
                    ?? throw new System.Text.Json.JsonException("null"));
            }
            catch (System.Text.Json.JsonException e)
            {
                // An entry that cannot be read may be a revocation: the list is unknown, not shorter.
                throw new StateStoreUnavailableException($"revocation list entry {prefix}revocations is not a revocation: {e.Message}", e);
            }
        }

        return new RevocationSnapshot(current, revocations);
    }
}
