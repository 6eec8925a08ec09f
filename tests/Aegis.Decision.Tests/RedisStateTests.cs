using Aegis.Contracts.State;
using Aegis.State;
using Aegis.TestSupport;

namespace Aegis.Decision.Tests;

/// <summary>The Redis stores against a real redis-server, and decision servers sharing one.</summary>
public class RedisStateTests
{
    // Redis expires keys on its own clock, so "now" must be the real now (a fixed date would expire them at once).
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private const string BudgetYaml = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: fin }
        spec:
          tenant: acme
          rules: [ { name: llm, match: { tools: ["openai.*"] }, effect: allow } ]
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: b, namespace: fin }
        spec:
          tenant: acme
          agents: ["payments-*"]
          daily: "10.00"
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: openai, namespace: fin }
        spec:
          tenant: acme
          protocol: mcp
          url: https://openai.tools.test/mcp
          prices: [ { tools: ["openai.*"], perCall: "0.30" } ]
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: other, namespace: globex }
        spec:
          tenant: globex
          rules: [ { name: all, match: { tools: ["*"] }, effect: allow } ]
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: other, namespace: globex }
        spec: { tenant: globex, protocol: mcp, url: "https://other.tools.test/mcp" }
        """;

    [Fact]
    public async Task Reserve_EightConcurrentClients_NeverOverspend()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = await RedisState.ConnectAsync(redis.Configuration);
        await using var b = await RedisState.ConnectAsync(redis.Configuration);
        var limits = new BudgetLimits(10.00m, null, TimeZoneInfo.Utc);
        var reserved = 0;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            var store = i % 2 == 0 ? a.Budgets : b.Budgets;
            for (var n = 0; n < 20; n++)
            {
                if ((await store.ReserveAsync("acme", "bot", 0.30m, limits, Now)).Reserved)
                {
                    Interlocked.Increment(ref reserved);
                }
            }
        })));

        Assert.Equal(33, reserved);
        Assert.Equal(new Spend(9.90m, 9.90m), await a.Budgets.GetSpendAsync("acme", "bot", TimeZoneInfo.Utc, Now));
    }

    [Fact]
    public async Task Reserve_KeysExpireAtThePeriodEndInTheBudgetsTimeZone()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var state = await RedisState.ConnectAsync(redis.Configuration);

        // A zone in which it is 23:30 right now, whenever the test runs: its day ends within 30 minutes.
        var now = DateTimeOffset.UtcNow;
        var minutes = ((23 * 60) + 30 - ((now.Hour * 60) + now.Minute) + 1440) % 1440;
        var offset = TimeSpan.FromMinutes(minutes > 720 ? minutes - 1440 : minutes);
        var zone = TimeZoneInfo.CreateCustomTimeZone("aegis-test", offset, "aegis-test", "aegis-test");
        var local = now.ToOffset(offset);
        await state.Budgets.ReserveAsync("acme", "bot", 1.25m, new BudgetLimits(5m, 50m, zone), now);

        var db = state.Connection.GetDatabase();
        var day = $"aegis:budget:{{acme}}:bot:d:{local:yyyy-MM-dd}";
        var dayTtl = await db.KeyTimeToLiveAsync(day);
        var monthTtl = await db.KeyTimeToLiveAsync($"aegis:budget:{{acme}}:bot:m:{local:yyyy-MM}");
        var expectedDay = new DateTimeOffset(local.Date.AddDays(1), offset) - DateTimeOffset.UtcNow;
        var expectedMonth = new DateTimeOffset(new DateTime(local.Year, local.Month, 1).AddMonths(1), offset) - DateTimeOffset.UtcNow;
        Assert.InRange(expectedDay.TotalMinutes, 0, 31);
        Assert.InRange(dayTtl!.Value.TotalSeconds, expectedDay.TotalSeconds - 5, expectedDay.TotalSeconds + 5);
        Assert.InRange(monthTtl!.Value.TotalSeconds, expectedMonth.TotalSeconds - 5, expectedMonth.TotalSeconds + 5);
        Assert.Equal("1250000", (string?)await db.StringGetAsync(day));
    }

    [Fact]
    public async Task BudgetPeriods_Berlin_DayAndMonthEndAtLocalMidnight()
    {
        // 22:30 UTC on 26 Nov is 23:30 in Berlin (UTC+1 in winter); in July Berlin is UTC+2.
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");

        var winter = BudgetPeriods.For(new DateTimeOffset(2026, 11, 26, 22, 30, 0, TimeSpan.Zero), berlin);
        var summer = BudgetPeriods.For(new DateTimeOffset(2026, 7, 31, 22, 30, 0, TimeSpan.Zero), berlin);

        Assert.Equal(("2026-11-26", "2026-11"), (winter.Day, winter.Month));
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 23, 0, 0, TimeSpan.Zero), winter.DayEnd);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 23, 0, 0, TimeSpan.Zero), winter.MonthEnd);
        Assert.Equal(("2026-08-01", "2026-08"), (summer.Day, summer.Month));
        Assert.Equal(new DateTimeOffset(2026, 8, 1, 22, 0, 0, TimeSpan.Zero), summer.DayEnd);
        Assert.Equal(new DateTimeOffset(2026, 8, 31, 22, 0, 0, TimeSpan.Zero), summer.MonthEnd);
    }

    public static TheoryData<string> Stores => ["redis", "memory"];

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ListSpend_ReturnsTheTenantsAgentsWithThisMonthsSpendOnly(string kind)
    {
        await using var redis = kind == "redis" ? await RedisServer.StartAsync() : null;
        await using var state = redis is null ? null : await RedisState.ConnectAsync(redis.Configuration);
        IBudgetStore store = state is null ? new InMemoryBudgetStore() : state.Budgets;
        var limits = new BudgetLimits(null, null, TimeZoneInfo.Utc);
        await store.ReserveAsync("acme", "support-1", 1.50m, limits, Now);
        await store.ReserveAsync("acme", "team:ops*", 0.25m, limits, Now);
        await store.ReserveAsync("acme", "support-1", 0.50m, limits, Now);
        await store.ReserveAsync("globex", "support-9", 9m, limits, Now);

        var spend = await store.ListSpendAsync("acme", TimeZoneInfo.Utc, Now);
        var nextMonth = await store.ListSpendAsync("acme", TimeZoneInfo.Utc, Now.AddDays(32));

        Assert.Equal(
            [new AgentSpendReading("support-1", new Spend(2.00m, 2.00m)), new AgentSpendReading("team:ops*", new Spend(0.25m, 0.25m))],
            spend);
        Assert.Empty(nextMonth);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Settle_CorrectsToTheActualCostOnceThenChangesNothing(string kind)
    {
        await using var redis = kind == "redis" ? await RedisServer.StartAsync() : null;
        await using var state = redis is null ? null : await RedisState.ConnectAsync(redis.Configuration);
        IBudgetStore store = state is null ? new InMemoryBudgetStore() : state.Budgets;
        var limits = new BudgetLimits(10m, 100m, TimeZoneInfo.Utc);
        await store.ReserveAsync("acme", "bot", 2.00m, limits, Now, "r1");
        await store.ReserveAsync("acme", "bot", 1.00m, limits, Now, "r2");

        var first = await store.SettleAsync("acme", "r1", 0.25m);
        var again = await store.SettleAsync("acme", "r1", 0m);
        var other = await store.SettleAsync("acme", "r2", 1.50m);

        Assert.Equal(new Settlement(SettlementStatus.Settled, 2.00m, new Spend(1.25m, 1.25m)), first);
        Assert.Equal(new Settlement(SettlementStatus.AlreadySettled, 2.00m, new Spend(1.25m, 1.25m)), again);
        Assert.Equal(new Settlement(SettlementStatus.Settled, 1.00m, new Spend(1.75m, 1.75m)), other);
        Assert.Equal(new Spend(1.75m, 1.75m), await store.GetSpendAsync("acme", "bot", TimeZoneInfo.Utc, Now));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Settle_UnknownOrOtherTenantsReservation_IsUnknownAndChangesNothing(string kind)
    {
        await using var redis = kind == "redis" ? await RedisServer.StartAsync() : null;
        await using var state = redis is null ? null : await RedisState.ConnectAsync(redis.Configuration);
        IBudgetStore store = state is null ? new InMemoryBudgetStore() : state.Budgets;
        await store.ReserveAsync("acme", "bot", 2.00m, new BudgetLimits(10m, null, TimeZoneInfo.Utc), Now, "r1");
        await store.ReserveAsync("acme", "bot", 1.00m, new BudgetLimits(10m, null, TimeZoneInfo.Utc), Now);

        Assert.Equal(SettlementStatus.Unknown, (await store.SettleAsync("acme", "nope", 0m)).Status);
        Assert.Equal(SettlementStatus.Unknown, (await store.SettleAsync("globex", "r1", 0m)).Status);
        Assert.Equal(new Spend(3.00m, 3.00m), await store.GetSpendAsync("acme", "bot", TimeZoneInfo.Utc, Now));
    }

    [Fact]
    public async Task Settle_TwoReplicasRacing_SettleExactlyOnce()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = await RedisState.ConnectAsync(redis.Configuration);
        await using var b = await RedisState.ConnectAsync(redis.Configuration);
        var limits = new BudgetLimits(1000m, null, TimeZoneInfo.Utc);
        for (var i = 0; i < 50; i++)
        {
            await a.Budgets.ReserveAsync("acme", "bot", 1.00m, limits, Now, $"r{i}");
        }

        // Each reservation is settled twice at once, by two replicas; only one of each pair may count.
        var settles = Enumerable.Range(0, 50).SelectMany(i => new[] { a.Budgets.SettleAsync("acme", $"r{i}", 0.10m).AsTask(), b.Budgets.SettleAsync("acme", $"r{i}", 0.10m).AsTask() });
        var results = await Task.WhenAll(settles);

        Assert.Equal(50, results.Count(r => r.Status == SettlementStatus.Settled));
        Assert.Equal(50, results.Count(r => r.Status == SettlementStatus.AlreadySettled));
        Assert.Equal(5.00m, (await a.Budgets.GetSpendAsync("acme", "bot", TimeZoneInfo.Utc, Now)).Today);
    }

    [Fact]
    public async Task RateLimiter_BurstThenRefill()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var state = await RedisState.ConnectAsync(redis.Configuration);

        var results = new List<bool>();
        for (var i = 0; i < 4; i++)
        {
            results.Add((await state.RateLimits.TryAcquireAsync("k", 60, 3, Now)).Allowed);
        }

        var limited = await state.RateLimits.TryAcquireAsync("k", 60, 3, Now);
        Assert.Equal([true, true, true, false], results);
        Assert.InRange(limited.RetryAfter.TotalSeconds, 0.9, 1.1);
        Assert.True((await state.RateLimits.TryAcquireAsync("k", 60, 3, Now.AddSeconds(1))).Allowed);
    }

    [Fact]
    public async Task TokenIds_ConsumedOnceAcrossConnections_RevocationSeenByOthers()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = await RedisState.ConnectAsync(redis.Configuration);
        await using var b = await RedisState.ConnectAsync(redis.Configuration);
        var expires = DateTimeOffset.UtcNow.AddMinutes(5);

        Assert.True(await a.TokenIds.TryConsumeAsync("j1", expires));
        Assert.False(await b.TokenIds.TryConsumeAsync("j1", expires));

        var before = await b.TokenIds.ListRevocationsAsync(-1, DateTimeOffset.UtcNow);
        Assert.Empty(before!.Revocations);
        Assert.Null(await b.TokenIds.ListRevocationsAsync(before.Version, DateTimeOffset.UtcNow));

        var now = DateTimeOffset.UtcNow;
        await a.TokenIds.RevokeAsync(new TokenRevocation { Jti = "j2", RevokedAt = now, ForgetAt = expires });
        await a.TokenIds.RevokeAsync(new TokenRevocation { Tenant = "acme", AgentId = "bot", RevokedAt = now, ForgetAt = expires, Reason = "leaked" });
        var after = await b.TokenIds.ListRevocationsAsync(before.Version, now);
        Assert.Equal(2, after!.Revocations.Count);
        Assert.Contains(after.Revocations, r => r is { Jti: "j2", Tenant: null });
        Assert.Contains(after.Revocations, r => r is { Jti: null, Tenant: "acme", AgentId: "bot", Reason: "leaked" });

        // Forgotten once every token they could match has expired.
        Assert.Empty((await b.TokenIds.ListRevocationsAsync(-1, expires.AddSeconds(1)))!.Revocations);
    }

    [Fact]
    public async Task TwoServersSharingRedis_SingleUseTokenAcceptedExactlyOnce()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var stateA = await RedisState.ConnectAsync(redis.Configuration);
        await using var stateB = await RedisState.ConnectAsync(redis.Configuration);
        await using var a = await ServerFixture.StartAsync(BudgetYaml, state: stateA.AsDecisionState());
        await using var b = await ServerFixture.StartAsync(BudgetYaml, state: stateB.AsDecisionState(), shareKeysWith: a);
        var token = await a.TokenAsync(agent: "ops-bot", extra: new Dictionary<string, object> { ["use"] = "once" });

        var calls = Enumerable.Range(0, 10).Select(i => (i % 2 == 0 ? a : b).Client.CheckAsync(ServerFixture.Check(token, "openai.chat", "{}")).ResponseAsync);
        var responses = await Task.WhenAll(calls);

        Assert.Equal(1, responses.Count(r => r.Status.Code == 0));
        Assert.Equal(9, responses.Count(r => r.Status.Message == "token_replayed"));
    }

    [Fact]
    public async Task TwoServersSharingRedis_EightClientsNeverOverspend()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var stateA = await RedisState.ConnectAsync(redis.Configuration);
        await using var stateB = await RedisState.ConnectAsync(redis.Configuration);
        await using var a = await ServerFixture.StartAsync(BudgetYaml, state: stateA.AsDecisionState());
        await using var b = await ServerFixture.StartAsync(BudgetYaml, state: stateB.AsDecisionState(), shareKeysWith: a);
        var token = await a.TokenAsync();
        var allowed = 0;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            for (var n = 0; n < 10; n++)
            {
                var r = await (i % 2 == 0 ? a : b).Client.CheckAsync(ServerFixture.Check(token, "openai.chat", "{}"));
                if (r.Status.Code == 0)
                {
                    Interlocked.Increment(ref allowed);
                }
                else
                {
                    Assert.Equal("budget_exhausted", r.Status.Message);
                }
            }
        })));

        // 0.30 a call against 10.00: 33 calls fit; spend never passes the limit.
        Assert.Equal(33, allowed);
        var spend = await stateA.Budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow);
        Assert.Equal(9.90m, spend.Today);
    }

    [Fact]
    public async Task RedisStoppedMidRun_BudgetedCallsDeniedOthersServed_ThenRecovers()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var state = await RedisState.ConnectAsync(redis.Configuration);
        await using var f = await ServerFixture.StartAsync(BudgetYaml, state: state.AsDecisionState());
        var budgeted = await f.TokenAsync();
        var unbudgeted = await f.TokenAsync(agent: "ops-bot");
        var otherTenant = await f.TokenAsync(agent: "x", tenant: "globex");
        Assert.Equal(0, (await f.Client.CheckAsync(ServerFixture.Check(budgeted, "openai.chat", "{}"))).Status.Code);

        await redis.StopAsync();

        var denied = await f.Client.CheckAsync(ServerFixture.Check(budgeted, "openai.chat", "{}"));
        Assert.Equal("budget_store_unavailable", denied.Status.Message);
        Assert.Equal(0, (await f.Client.CheckAsync(ServerFixture.Check(unbudgeted, "openai.chat", "{}"))).Status.Code);
        Assert.Equal(0, (await f.Client.CheckAsync(ServerFixture.Check(otherTenant, "other.anything", "{}"))).Status.Code);

        await redis.StartAgainAsync();
        await Eventually.TrueAsync(() => f.Client.Check(ServerFixture.Check(budgeted, "openai.chat", "{}")).Status.Code == 0, within: TimeSpan.FromSeconds(20));
    }
}
