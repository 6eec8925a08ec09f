using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Aegis.Contracts.State;
using Aegis.Decision.Approvals;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.State;
using Aegis.TestSupport;

namespace Aegis.Decision.Tests;

/// <summary>
/// Approvals where retry is the protocol: a call needing approval is filed on the standalone desk, a person approves
/// it, and the agent's same call (same arguments) is then allowed exactly as often as granted, still budgeted and
/// charged; any other call is not covered.
/// </summary>
public class ApprovalGrantTests
{
    private const string Yaml = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: fin }
        spec:
          tenant: acme
          rules:
            - { name: small, match: { tools: ["stripe.transfer"] }, when: "args.amount <= 100.0", effect: allow }
            - name: large
              match: { tools: ["stripe.transfer"] }
              when: "args.amount > 100.0"
              effect: approval_needed
              approval: { approvers: ["group:finance"], ttl: 10m, maxBatch: 3 }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: b, namespace: fin }
        spec: { tenant: acme, daily: "1.00" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: fin }
        spec:
          tenant: acme
          protocol: mcp
          url: https://stripe.tools.test/mcp
          prices: [ { tools: ["stripe.transfer"], perCall: "0.30" } ]
        """;

    private const string Large = """{"amount": 9000, "currency": "USD"}""";

    private static async Task<JsonDocument> DeskAsync(ServerFixture f, HttpMethod method, string path, string? body = null, string token = ServerFixture.AdminToken)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await f.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(JsonSerializer.Serialize(new { status = (int)response.StatusCode, body = JsonDocument.Parse(text).RootElement }));
    }

    private static string? Approval(CheckResponse response) =>
        response.DeniedResponse?.Headers.FirstOrDefault(h => h.Header.Key == "x-aegis-approval")?.Header.Value;

    [Fact]
    public async Task Approve_TheAgentsRetryIsAllowedOnceAndCharged()
    {
        var budgets = new InMemoryBudgetStore();
        await using var f = await ServerFixture.StartAsync(Yaml, desk: true, state: new DecisionState(budgets, new InMemoryRateLimiter(), new InMemoryTokenIdStore()));
        var token = await f.TokenAsync();

        var first = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large));
        var name = Approval(first);
        Assert.NotNull(name);
        Assert.Equal(name, Approval(await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large))));

        using var listed = await DeskAsync(f, HttpMethod.Get, "/v1/approvals");
        var pending = Assert.Single(listed.RootElement.GetProperty("body").GetProperty("approvals").EnumerateArray());
        Assert.Equal(("Pending", "stripe.transfer", "fin/p", "large"), (pending.GetProperty("phase").GetString(), pending.GetProperty("tool").GetString(), pending.GetProperty("policy").GetString(), pending.GetProperty("rule").GetString()));
        Assert.Equal(["group:finance"], pending.GetProperty("approvers").EnumerateArray().Select(a => a.GetString()));

        using var approved = await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/approve", """{"reason":"invoice 4411"}""");
        Assert.Equal(200, approved.RootElement.GetProperty("status").GetInt32());

        var retry = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large));
        var again = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large));

        Assert.Equal(0, retry.Status.Code);
        Assert.Equal(0.30m, (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today);
        Assert.Equal("rule_matched", again.Status.Message);
        Assert.NotEqual(name, Approval(again));
    }

    [Theory]
    [InlineData("other arguments")]
    [InlineData("other agent")]
    public async Task Approve_CoversOnlyThatAgentsCallWithThoseArguments(string variant)
    {
        await using var f = await ServerFixture.StartAsync(Yaml, desk: true);
        var token = await f.TokenAsync();
        var name = Approval(await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large)));
        await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/approve", "{}");

        var other = variant == "other agent"
            ? await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync("payments-2"), "stripe.transfer", Large))
            : await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 9001, "currency": "USD"}"""));
        var exact = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large));

        Assert.NotEqual(0, other.Status.Code);
        Assert.Equal(0, exact.Status.Code);
    }

    [Fact]
    public async Task ApproveBatch_TheNextNSuchCallsAreAllowedThenApprovalAgain()
    {
        await using var f = await ServerFixture.StartAsync(Yaml.Replace("daily: \"1.00\"", "daily: \"10.00\"", StringComparison.Ordinal), desk: true);
        var token = await f.TokenAsync();
        var name = Approval(await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large)));

        using var tooMany = await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/approve", """{"count": 4}""");
        using var batch = await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/approve", """{"count": 3, "within": "5m"}""");
        var codes = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            codes.Add((await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large))).Status.Code);
        }

        Assert.Equal(400, tooMany.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(3, batch.RootElement.GetProperty("body").GetProperty("granted").GetInt32());
        Assert.Equal([0, 0, 0, 7], codes);
    }

    [Fact]
    public async Task ApprovedCallOverItsBudget_StillLimitedAndTheGrantKept()
    {
        await using var f = await ServerFixture.StartAsync(Yaml.Replace("daily: \"1.00\"", "daily: \"0.20\"", StringComparison.Ordinal), desk: true);
        var token = await f.TokenAsync();
        var name = Approval(await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large)));
        await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/approve", "{}");

        var retry = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large));

        Assert.Equal("budget_exhausted", retry.Status.Message);
        using var state = await DeskAsync(f, HttpMethod.Get, $"/v1/approvals/{name}");
        Assert.Equal(1, state.RootElement.GetProperty("body").GetProperty("remaining").GetInt32());
    }

    [Fact]
    public async Task Deny_TheRetryIsStillRefused()
    {
        await using var f = await ServerFixture.StartAsync(Yaml, desk: true);
        var token = await f.TokenAsync();
        var name = Approval(await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large)));

        using var denied = await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/deny", """{"reason":"no"}""");
        using var twice = await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/approve", "{}");
        var retry = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large));

        Assert.Equal("Denied", denied.RootElement.GetProperty("body").GetProperty("phase").GetString());
        Assert.Equal(409, twice.RootElement.GetProperty("status").GetInt32());
        Assert.NotEqual(0, retry.Status.Code);
    }

    [Fact]
    public async Task Desk_WithoutTheAdminCredential_Refused()
    {
        await using var f = await ServerFixture.StartAsync(Yaml, desk: true);
        var token = await f.TokenAsync();
        var name = Approval(await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large)));

        // The agent approving its own call with its own token.
        using var self = await DeskAsync(f, HttpMethod.Post, $"/v1/approvals/{name}/approve", "{}", token: token);
        using var list = await DeskAsync(f, HttpMethod.Get, "/v1/approvals", token: "guess");

        Assert.Equal(401, self.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(401, list.RootElement.GetProperty("status").GetInt32());
        Assert.NotEqual(0, (await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Large))).Status.Code);
    }

    [Fact]
    public async Task Backlog_AtMostTwentyPendingPerAgent_ThenRefusedWithTheReason()
    {
        await using var f = await ServerFixture.StartAsync(Yaml, desk: true);
        var token = await f.TokenAsync();
        for (var i = 0; i < StandaloneApprovalDesk.MaxPendingPerAgent; i++)
        {
            Assert.NotNull(Approval(await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", $$"""{"amount": {{1000 + i}}}"""))));
        }

        var over = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 5000}"""));
        var otherAgent = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync("payments-2"), "stripe.transfer", """{"amount": 5000}"""));

        Assert.Equal(StandaloneApprovalDesk.BacklogFull, over.Status.Message);
        Assert.NotNull(Approval(otherAgent));
    }

    [Fact]
    public async Task SlowFiling_AnsweredWithinTheWaitAndTheNameLearnedOnRetry()
    {
        var release = new TaskCompletionSource();
        var filings = new ApprovalFilings(new SlowFiler(release.Task), TimeSpan.FromMilliseconds(50), TimeProvider.System);
        var call = new ApprovalCall
        {
            Key = new ApprovalKey("acme", "bot", "stripe.transfer", new string('a', 64), "fin/p", "large"),
            Args = JsonDocument.Parse("{}").RootElement,
            Approval = new Aegis.Policy.Resources.ApprovalSpec(),
        };

        var first = await filings.FileAsync(call, CancellationToken.None);
        release.SetResult();
        await Eventually.TrueAsync(async () => (await filings.FileAsync(call, CancellationToken.None)).Name is not null, "the background filing to finish");

        Assert.Null(first.Name);
        Assert.Contains("retry", first.Error, StringComparison.Ordinal);
        Assert.Equal("ar-1", (await filings.FileAsync(call, CancellationToken.None)).Name);
    }

    [Fact]
    public async Task RedisGrants_TwoReplicasRacingForTheLastUse_OnlyOneWins()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = await RedisState.ConnectAsync(redis.Configuration);
        await using var b = await RedisState.ConnectAsync(redis.Configuration);
        var key = new ApprovalKey("acme", "bot", "stripe.transfer", new string('a', 64), "fin/p", "large");
        var now = DateTimeOffset.UtcNow;
        await a.Grants.GrantAsync(key, 3, now.AddMinutes(5));

        var takes = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => (i % 2 == 0 ? a.Grants : b.Grants).TryConsumeAsync(key, now).AsTask()));
        await a.Grants.RestoreAsync(key);

        Assert.Equal(3, takes.Count(t => t));
        Assert.Equal(0, await b.Grants.RemainingAsync(key, now));
        Assert.False(await b.Grants.HasAsync(key, now));
    }

    private sealed class SlowFiler(Task release) : IApprovalFiler
    {
        public async Task<ApprovalFiling> FileAsync(ApprovalCall call, CancellationToken cancellationToken)
        {
            await release.ConfigureAwait(false);
            return new ApprovalFiling("ar-1", null);
        }
    }
}
