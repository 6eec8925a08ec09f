using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Decisions;

public class RegionAndBudgetTests
{
    private static readonly string AllowAll = PolicyFixtures.Policy("all", "acme", "- { name: any, match: { tools: [\"*\"], egress: { hosts: [\"*\"] } }, effect: allow }");

    private const string Region = """
        apiVersion: aegis.dev/v1alpha1
        kind: TenantRegion
        metadata: { name: acme }
        spec:
          tenant: acme
          allowedRegions: ["eu-west-1", "europe-west4"]
          regionHosts:
            us-east-1: ["*.us-east-1.amazonaws.com"]
            eu-west-1: ["*.eu-west-1.amazonaws.com"]
        ---

        """;

    [Theory]
    [InlineData(false, null, null, "allow", "rule_matched")]
    [InlineData(true, "eu-west-1", null, "allow", "rule_matched")]
    [InlineData(true, "us-east-1", null, "deny", "region_not_allowed")]
    [InlineData(true, null, null, "deny", "region_unknown")]
    [InlineData(true, "eu-west-1", "s3.us-east-1.amazonaws.com", "deny", "egress_region_not_allowed")]
    [InlineData(true, "eu-west-1", "s3.eu-west-1.amazonaws.com", "allow", "rule_matched")]
    [InlineData(true, "eu-west-1", "api.unmapped.com", "allow", "rule_matched")]
    public void Decide_TenantRegion_IsEnforced(bool withRegion, string? serverRegion, string? host, string effect, string reason)
    {
        var set = PolicyFixtures.SetFor("acme", (withRegion ? Region : "") + AllowAll);
        var input = host is null
            ? PolicyFixtures.ToolCall("acme", "bot", "x", region: serverRegion!)
            : new DecisionInput { Tenant = "acme", Agent = new AgentIdentity("bot"), Request = new EgressRequest("GET", host, "/"), Region = serverRegion };

        var decision = DecisionEngine.Decide(set, input);

        Assert.Equal(effect, DecisionJson.EffectName(decision.Effect));
        Assert.Equal(reason, decision.Reason);
    }

    [Fact]
    public void Decide_TwoTenantRegions_AllowOnlyTheIntersection()
    {
        var second = Region.Replace("name: acme", "name: acme-2", StringComparison.Ordinal).Replace("\"eu-west-1\", \"europe-west4\"", "\"europe-west4\"", StringComparison.Ordinal);
        var set = PolicyFixtures.SetFor("acme", Region + second + AllowAll);
        Assert.Equal(Effect.Deny, DecisionEngine.Decide(set, PolicyFixtures.ToolCall("acme", "bot", "x", region: "eu-west-1")).Effect);
        Assert.Equal(Effect.Allow, DecisionEngine.Decide(set, PolicyFixtures.ToolCall("acme", "bot", "x", region: "europe-west4")).Effect);
    }

    [Fact]
    public void Decide_UnparseableTenantRegion_DeniesTheWholeTenant()
    {
        var load = ManifestLoader.LoadText(AllowAll + """
            apiVersion: aegis.dev/v1alpha1
            kind: TenantRegion
            metadata: { name: broken }
            spec: { tenant: acme, allowedRegions: "eu-west-1" }
            """, "r.yaml");
        Assert.Single(load.Rejected);

        var set = PolicySet.From(BundleCompiler.Compile("acme", load.Objects, load.Rejected));
        var decision = DecisionEngine.Decide(set, PolicyFixtures.ToolCall("acme", "bot", "x"));

        Assert.Equal(Effect.Deny, decision.Effect);
        Assert.Equal(DecisionReasons.RegionConfigInvalid, decision.Reason);
        Assert.Contains("default/broken", decision.Message, StringComparison.Ordinal);
    }

    private static string Budget(string onExhausted = "deny", string extra = "") => $$"""
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: llm }
        spec:
          tenant: acme
          agents: ["support-*"]
          daily: "20.00"
          monthly: "400.00"
          onExhausted: {{onExhausted}}
        {{extra}}
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: openai }
        spec:
          tenant: acme
          protocol: http
          url: https://openai.example.com
          prices: [ { tools: ["openai.*"], perCall: "0.50" } ]
        ---

        """;

    public static TheoryData<string, string, string?, string, string, string, string> BudgetCases() => new()
    {
        // name, budget yaml, cost, spentToday, spentThisMonth, expected effect, expected reason
        { "well within", Budget(), "1.00", "0", "0", "allow", "rule_matched" },
        { "exactly at the daily limit is still within", Budget(), "1.00", "19.00", "0", "allow", "rule_matched" },
        { "one cent over the daily limit", Budget(), "1.01", "19.00", "0", "deny", "budget_exhausted" },
        { "monthly limit applies too", Budget(), "1.00", "0", "399.50", "deny", "budget_exhausted" },
        { "price from the budget when no estimate is sent", Budget(), null, "19.60", "0", "deny", "budget_exhausted" },
        { "price from the budget within", Budget(), null, "19.50", "0", "allow", "rule_matched" },
        { "exhausted with approval_needed asks a person", Budget("approval_needed", "  approval: { approvers: [\"group:finance\"] }"), "5.00", "19.00", "0", "approval_needed", "budget_exhausted" },
        { "exhausted with throttle keeps allowing at a rate", Budget("throttle", "  throttle: { requestsPerMinute: 5 }"), "5.00", "19.00", "0", "allow", "rule_matched" },
    };

    [Theory]
    [MemberData(nameof(BudgetCases))]
    public void Decide_Budget_ChecksSpendPlusCostAgainstLimits(string name, string budget, string? cost, string spentToday, string spentThisMonth, string effect, string reason)
    {
        var set = PolicyFixtures.SetFor("acme", budget + AllowAll);
        var costJson = cost is null ? "" : $",\"cost\":\"{cost}\"";
        var input = PolicyFixtures.Input($$$"""{"tenant":"acme","agent":{"id":"support-1"},"tool":"openai.chat"{{{costJson}}},"budget":{"spentToday":"{{{spentToday}}}","spentThisMonth":"{{{spentThisMonth}}}"}}""");

        var decision = DecisionEngine.Decide(set, input);

        Assert.True(effect == DecisionJson.EffectName(decision.Effect), $"{name}: got {decision.Effect} {decision.Reason} {decision.Message}");
        Assert.Equal(reason, decision.Reason);
    }

    [Fact]
    public void Decide_Throttle_EmitsTheThrottleRate()
    {
        var set = PolicyFixtures.SetFor("acme", Budget("throttle", "  throttle: { requestsPerMinute: 5 }\n  rateLimit: { requestsPerMinute: 600, burst: 100 }") + AllowAll);
        var input = PolicyFixtures.Input("""{"tenant":"acme","agent":{"id":"support-1"},"tool":"openai.chat","budget":{"spentToday":"20.00"}}""");

        var decision = DecisionEngine.Decide(set, input);

        Assert.Equal([new RateLimitDirective("default/llm", 600, 100), new RateLimitDirective("default/llm", 5, 1)], decision.RateLimits);
        Assert.True(Assert.Single(decision.Budgets).Exhausted);
        Assert.Equal(0.50m, decision.Cost);
    }

    [Fact]
    public void Decide_Budget_NotConsultedForDeniedCallsOrUnselectedAgents()
    {
        var set = PolicyFixtures.SetFor("acme", Budget() + PolicyFixtures.Policy("deny", "acme", "- { name: no, match: { tools: [\"forbidden\"] }, effect: deny }"));

        var denied = DecisionEngine.Decide(set, PolicyFixtures.Input("""{"tenant":"acme","agent":{"id":"support-1"},"tool":"forbidden","budget":{"spentToday":"100"}}"""));
        Assert.Equal("no", denied.Rule);
        Assert.Empty(denied.Budgets);

        var setAllow = PolicyFixtures.SetFor("acme", Budget() + AllowAll);
        var other = DecisionEngine.Decide(setAllow, PolicyFixtures.Input("""{"tenant":"acme","agent":{"id":"ops-1"},"tool":"openai.chat","budget":{"spentToday":"100"}}"""));
        Assert.Equal(Effect.Allow, other.Effect);
        Assert.Empty(other.Budgets);
    }

    [Fact]
    public void DecisionInputTryParse_BadFields_NameTheField()
    {
        static string Error(string json)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            Assert.False(DecisionInput.TryParse(doc.RootElement, out _, out var error));
            return error;
        }

        Assert.Equal("input: tenant: is required", Error("""{"agent":{"id":"a"},"tool":"x"}"""));
        Assert.Equal("input: agent: is required and must be an object with an id", Error("""{"tenant":"t","tool":"x"}"""));
        Assert.Equal("input: agent.id: is required", Error("""{"tenant":"t","agent":{},"tool":"x"}"""));
        Assert.Equal("input: tool: must be a string", Error("""{"tenant":"t","agent":{"id":"a"},"tool":5}"""));
        Assert.Equal("input: cost: money must be a decimal string such as \"0.25\"", Error("""{"tenant":"t","agent":{"id":"a"},"tool":"x","cost":0.25}"""));
        Assert.StartsWith("input: budget.spentToday: must not be negative", Error("""{"tenant":"t","agent":{"id":"a"},"tool":"x","budget":{"spentToday":"-1"}}"""), StringComparison.Ordinal);
        Assert.Equal("input: args: must be a JSON object", Error("""{"tenant":"t","agent":{"id":"a"},"tool":"x","args":[1]}"""));
        Assert.StartsWith("input: now: must be an RFC 3339 time", Error("""{"tenant":"t","agent":{"id":"a"},"tool":"x","now":"yesterday"}"""), StringComparison.Ordinal);
    }
}
