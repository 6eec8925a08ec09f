using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Resources;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Decisions;

/// <summary>Table-driven cases for every rule of DESIGN.md "Decisions".</summary>
public class DecisionSemanticsTests
{
    private static string Rule(string name, string tool, string effect, string extra = "") =>
        $"- {{ name: {name}, match: {{ tools: [\"{tool}\"] }}, effect: {effect}{extra} }}";

    private const string Approval = ", approval: { approvers: [\"group:finance\"] }";
    private const string Redact = ", redact: [ { detector: email } ]";

    // Four enforce policies, each with one rule on the tool "t.<effect-combination>".
    private static readonly string Combining =
        PolicyFixtures.Policy("p-allow", "acme", string.Join("\n", Rule("a1", "t.*", "allow"))) +
        PolicyFixtures.Policy("p-sanitize", "acme", Rule("s1", "t.s*", "sanitize", Redact)) +
        PolicyFixtures.Policy("p-approval", "acme", Rule("ap1", "t.sa*", "approval_needed", Approval)) +
        PolicyFixtures.Policy("p-deny", "acme", Rule("d1", "t.sad*", "deny"));

    public static TheoryData<string, string, string, string, string?, string> Cases() => new()
    {
        // name, yaml, input, expected effect, expected rule, expected reason
        { "allow alone", Combining, """{"tenant":"acme","agent":{"id":"bot"},"tool":"t.a"}""", "allow", "a1", DecisionReasons.RuleMatched },
        { "sanitize beats allow", Combining, """{"tenant":"acme","agent":{"id":"bot"},"tool":"t.s"}""", "sanitize", "s1", DecisionReasons.RuleMatched },
        { "approval beats sanitize", Combining, """{"tenant":"acme","agent":{"id":"bot"},"tool":"t.sa"}""", "approval_needed", "ap1", DecisionReasons.RuleMatched },
        { "deny beats everything", Combining, """{"tenant":"acme","agent":{"id":"bot"},"tool":"t.sad"}""", "deny", "d1", DecisionReasons.RuleMatched },
        { "no rule: defaults combine, deny wins", Combining, """{"tenant":"acme","agent":{"id":"bot"},"tool":"other"}""", "deny", null, DecisionReasons.DefaultEffect },
        {
            "no rule: all defaults allow",
            PolicyFixtures.Policy("a", "acme", Rule("r", "x", "deny"), defaultEffect: "allow") + PolicyFixtures.Policy("b", "acme", Rule("r", "y", "deny"), defaultEffect: "allow"),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"z"}""", "allow", null, DecisionReasons.DefaultEffect
        },
        {
            "a matching rule decides even when another selected policy defaults to deny",
            PolicyFixtures.Policy("a", "acme", Rule("r", "x", "allow")) + PolicyFixtures.Policy("b", "acme", Rule("r", "y", "deny")),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"x"}""", "allow", "r", DecisionReasons.RuleMatched
        },
        {
            "agent selected by no policy is denied",
            PolicyFixtures.Policy("a", "acme", Rule("r", "*", "allow"), agents: "\"payments-*\""),
            """{"tenant":"acme","agent":{"id":"support-1"},"tool":"x"}""", "deny", null, DecisionReasons.NoPolicy
        },
        {
            "agent selected only by shadow policies is allowed",
            PolicyFixtures.Policy("s", "acme", Rule("r", "*", "deny"), mode: "shadow"),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"x"}""", "allow", null, DecisionReasons.ShadowOnly
        },
        {
            "shadow deny never changes an enforced allow",
            PolicyFixtures.Policy("e", "acme", Rule("ok", "*", "allow")) + PolicyFixtures.Policy("s", "acme", Rule("no", "*", "deny"), mode: "shadow"),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"x"}""", "allow", "ok", DecisionReasons.RuleMatched
        },
        {
            "shadow allow never changes an enforced deny",
            PolicyFixtures.Policy("e", "acme", Rule("no", "*", "deny")) + PolicyFixtures.Policy("s", "acme", Rule("ok", "*", "allow"), mode: "shadow"),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"x"}""", "deny", "no", DecisionReasons.RuleMatched
        },
        {
            "condition true",
            PolicyFixtures.Policy("c", "acme", Rule("big", "pay", "deny", ", when: \"args.amount > 100.0\"")),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"pay","args":{"amount":150}}""", "deny", "big", DecisionReasons.RuleMatched
        },
        {
            "condition false falls through to the default",
            PolicyFixtures.Policy("c", "acme", Rule("big", "pay", "deny", ", when: \"args.amount > 100.0\""), defaultEffect: "allow"),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"pay","args":{"amount":50}}""", "allow", null, DecisionReasons.DefaultEffect
        },
        {
            "condition error fails closed, even on an allow rule",
            PolicyFixtures.Policy("c", "acme", Rule("ok", "pay", "allow", ", when: \"args.amount < 100.0\""), defaultEffect: "allow"),
            """{"tenant":"acme","agent":{"id":"bot"},"tool":"pay","args":{}}""", "deny", "ok", DecisionReasons.ConditionError
        },
        {
            "condition can use agent scopes, region and cost",
            PolicyFixtures.Policy("c", "acme", Rule("ok", "pay", "allow", ", when: \"'pay' in agent.scopes && region == 'eu-west-1' && cost < 1.0\"")),
            """{"tenant":"acme","agent":{"id":"bot","scopes":["pay"]},"tool":"pay","cost":"0.5","region":"eu-west-1"}""", "allow", "ok", DecisionReasons.RuleMatched
        },
        { "neither tool nor request: only the defaults apply", Combining, """{"tenant":"acme","agent":{"id":"bot"}}""", "deny", null, DecisionReasons.DefaultEffect },
        { "tenant mismatch", Combining, """{"tenant":"other","agent":{"id":"bot"},"tool":"t.a"}""", "deny", null, DecisionReasons.TenantMismatch },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decide_Semantics(string name, string yaml, string input, string effect, string? rule, string reason)
    {
        var decision = DecisionEngine.Decide(PolicyFixtures.SetFor("acme", yaml), PolicyFixtures.Input(input));

        Assert.True(effect == DecisionJson.EffectName(decision.Effect), $"{name}: effect {DecisionJson.EffectName(decision.Effect)} ({decision.Reason}: {decision.Message})");
        Assert.Equal(rule, decision.Rule);
        Assert.Equal(reason, decision.Reason);
    }

    private static readonly string Egress = PolicyFixtures.Policy("egress", "acme", """
        - name: stripe
          match: { egress: { hosts: ["api.stripe.com", "*.acme.internal:8443"], methods: [GET, POST], paths: ["/v1/*"] } }
          effect: allow
        """);

    [Theory]
    [InlineData("POST", "api.stripe.com", "/v1/charges", true)]
    [InlineData("post", "API.Stripe.COM", "/v1/charges?limit=3", true)]
    [InlineData("DELETE", "api.stripe.com", "/v1/charges", false)]
    [InlineData("GET", "api.stripe.com", "/v2/charges", false)]
    [InlineData("GET", "api.stripe.com", "/V1/charges", false)]
    [InlineData("GET", "evil.com", "/v1/charges", false)]
    [InlineData("GET", "db.acme.internal:8443", "/v1/x", true)]
    [InlineData("GET", "db.acme.internal:443", "/v1/x", false)]
    [InlineData("GET", "api.stripe.com:443", "/v1/x", true)]
    public void Decide_Egress_MatchesHostMethodPath(string method, string host, string path, bool allowed)
    {
        var input = PolicyFixtures.Input($$$"""{"tenant":"acme","agent":{"id":"bot"},"request":{"method":"{{{method}}}","host":"{{{host}}}","path":"{{{path}}}"}}""");
        var decision = DecisionEngine.Decide(PolicyFixtures.SetFor("acme", Egress), input);
        Assert.Equal(allowed ? Effect.Allow : Effect.Deny, decision.Effect);
    }

    [Fact]
    public void Decide_Shadow_RecordsWouldBeDecisionOfEachShadowPolicy()
    {
        var yaml = PolicyFixtures.Policy("e", "acme", Rule("ok", "*", "allow"))
            + PolicyFixtures.Policy("s1", "acme", Rule("no", "pay", "deny"), mode: "shadow")
            + PolicyFixtures.Policy("s2", "acme", Rule("other", "x", "deny"), mode: "shadow", defaultEffect: "allow")
            + PolicyFixtures.Policy("s3", "acme", Rule("other", "x", "deny"), mode: "shadow", agents: "\"nobody\"");

        var decision = DecisionEngine.Decide(PolicyFixtures.SetFor("acme", yaml), PolicyFixtures.ToolCall("acme", "bot", "pay"));

        Assert.Equal(Effect.Allow, decision.Effect);
        Assert.Equal([new ShadowResult("default/s1", "no", Effect.Deny), new ShadowResult("default/s2", null, Effect.Allow)], decision.Shadow);
    }

    [Fact]
    public void Decide_Sanitize_ReturnsRedactedArgsFromEveryMatchingSanitizeRule()
    {
        var yaml = PolicyFixtures.Policy("a", "acme", Rule("mail", "ehr.*", "sanitize", Redact))
            + PolicyFixtures.Policy("b", "acme", """
                - name: mrn
                  match: { tools: ["ehr.read"] }
                  effect: sanitize
                  redact: [ { pattern: "MRN-[0-9]{8}", replacement: "[MRN]" }, { detector: us_ssn } ]
                """);
        var input = PolicyFixtures.ToolCall("acme", "bot", "ehr.read", """{"note":"MRN-12345678 jane@x.org","ssn":"123-45-6789","n":5}""");

        var decision = DecisionEngine.Decide(PolicyFixtures.SetFor("acme", yaml), input);

        Assert.Equal(Effect.Sanitize, decision.Effect);
        Assert.Equal("""{"note":"[MRN] [REDACTED:email]","ssn":"[REDACTED:us_ssn]","n":5}""", decision.RedactedArgs!.ToJsonString());
        Assert.Equal(3, decision.Redactions.Count);
        Assert.Contains("MRN-12345678", decision.Args!.Value.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_ApprovalNeeded_CarriesApproversAndTtl()
    {
        var yaml = PolicyFixtures.Policy("a", "acme", Rule("big", "pay", "approval_needed", ", approval: { approvers: [\"slack:U1\"], ttl: 10m }"));
        var decision = DecisionEngine.Decide(PolicyFixtures.SetFor("acme", yaml), PolicyFixtures.ToolCall("acme", "bot", "pay"));
        Assert.Equal(Effect.ApprovalNeeded, decision.Effect);
        Assert.Equal(["slack:U1"], decision.Approval!.Approvers);
        Assert.Equal("10m", decision.Approval.Ttl);
    }

    [Fact]
    public void Decide_TenantIsolation_OtherTenantsObjectsNeverEnterTheBundle()
    {
        // Tenant "evil" allows everything for every agent and restricts regions; none of it may reach "acme".
        var yaml = PolicyFixtures.Policy("acme-policy", "acme", Rule("pay", "pay", "allow"), agents: "\"bot\"")
            + PolicyFixtures.Policy("evil-allow", "evil", Rule("all", "*", "allow"), defaultEffect: "allow")
            + PolicyFixtures.Policy("evil-deny", "evil", Rule("pay", "pay", "deny"), agents: "\"bot\"")
            + """
              apiVersion: aegis.dev/v1alpha1
              kind: TenantRegion
              metadata: { name: evil }
              spec: { tenant: evil, allowedRegions: ["mars-1"] }
              ---
              apiVersion: aegis.dev/v1alpha1
              kind: AgentBudget
              metadata: { name: evil }
              spec: { tenant: evil, daily: "0" }
              """;
        var load = PolicyFixtures.LoadValid(yaml);
        var acme = BundleCompiler.Compile("acme", load.Objects);
        var set = PolicySet.From(acme);

        Assert.Equal(["default/acme-policy"], acme.Data.Policies.Select(p => p.Id));
        Assert.Empty(acme.Data.Budgets);
        Assert.Empty(acme.Data.Regions);
        Assert.DoesNotContain("evil", System.Text.Encoding.UTF8.GetString(acme.DataJson), StringComparison.Ordinal);
        Assert.Equal(Effect.Allow, DecisionEngine.Decide(set, PolicyFixtures.ToolCall("acme", "bot", "pay")).Effect);
        Assert.Equal(Effect.Deny, DecisionEngine.Decide(set, PolicyFixtures.ToolCall("acme", "other-agent", "anything")).Effect);
        Assert.Equal(DecisionReasons.TenantMismatch, DecisionEngine.Decide(set, PolicyFixtures.ToolCall("evil", "bot", "pay")).Reason);

        // And the other way round: acme's rule does not change evil's bundle.
        var evilWithout = BundleCompiler.Compile("evil", load.Objects.Where(o => o.Tenant == "evil"));
        Assert.Equal(evilWithout.Revision, BundleCompiler.Compile("evil", load.Objects).Revision);
    }
}
