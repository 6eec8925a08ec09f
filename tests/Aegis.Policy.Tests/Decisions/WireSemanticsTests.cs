using Aegis.Policy.Decisions;
using Aegis.Policy.Resources;
using Aegis.Policy.Tools;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Decisions;

/// <summary>
/// The decision semantics of the sidecar path (DESIGN.md "Decisions"): tunnels decided on the host alone, protocol
/// traffic passing, reservations priced by ToolServers, and which tools a tools/list may show.
/// </summary>
public class WireSemanticsTests
{
    private const string Yaml = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: fin }
        spec:
          tenant: acme
          agents: ["bot-*"]
          rules:
            - { name: plain, match: { egress: { hosts: ["plain.example.com"] } }, effect: allow }
            - { name: get-only, match: { egress: { hosts: ["get.example.com"], methods: ["GET"] } }, effect: allow }
            - { name: v1-only, match: { egress: { hosts: ["path.example.com"], paths: ["/v1/*"] } }, effect: allow }
            - { name: conditional, match: { egress: { hosts: ["cond.example.com"] } }, when: "request.path.startsWith('/ok')", effect: allow }
            - name: scrub
              match: { egress: { hosts: ["scrub.example.com"] } }
              effect: sanitize
              redact: [ { detector: email } ]
            - { name: blocked, match: { egress: { hosts: ["blocked.example.com"], paths: ["/admin/*"] } }, effect: deny }
            - { name: both-a, match: { egress: { hosts: ["both.example.com"] } }, when: "request.method == 'POST'", effect: allow }
            - { name: both-b, match: { egress: { hosts: ["both.example.com"] } }, effect: allow }
            - { name: transfer, match: { tools: ["stripe.transfer"] }, when: "args.amount <= 100.0", effect: allow }
            - { name: payout, match: { tools: ["stripe.payout"] }, effect: deny }
            - { name: big, match: { tools: ["stripe.refund"] }, when: "args.amount > 10.0", effect: deny }
            - { name: llm, match: { tools: ["openai.*"] }, effect: allow }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: b, namespace: fin }
        spec: { tenant: acme, agents: ["bot-llm"], daily: "1.00" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: fin }
        spec:
          tenant: acme
          protocol: mcp
          url: https://mcp.stripe.com/mcp
          prices: [ { tools: ["stripe.transfer"], perCall: "0.25" } ]
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: openai, namespace: fin }
        spec:
          tenant: acme
          protocol: openai
          url: https://api.openai.com/v1
          models: [ { match: "gpt-4o*", inputPer1M: "2.50", outputPer1M: "10.00" } ]
        """;

    private static readonly PolicySet Set = PolicyFixtures.SetFor("acme", Yaml);

    private static Decision Tunnel(string host) => DecisionEngine.Decide(Set, new DecisionInput
    {
        Tenant = "acme",
        Agent = new AgentIdentity("bot-1"),
        Request = new EgressRequest("CONNECT", host + ":443", ""),
        Tunnel = true,
    });

    [Theory]
    [InlineData("plain.example.com", "allow", "rule_matched")]
    [InlineData("get.example.com", "deny", DecisionReasons.TunnelRequiresInspection)]
    [InlineData("path.example.com", "deny", DecisionReasons.TunnelRequiresInspection)]
    [InlineData("cond.example.com", "deny", DecisionReasons.TunnelRequiresInspection)]
    [InlineData("scrub.example.com", "deny", DecisionReasons.TunnelRequiresInspection)]
    [InlineData("blocked.example.com", "deny", "rule_matched")]
    [InlineData("both.example.com", "allow", "rule_matched")]
    [InlineData("nowhere.example.com", "deny", "default_effect")]
    public void Decide_Tunnel_OnlyARuleThatNeedsNoInspectionCanAllowIt(string host, string effect, string reason)
    {
        var decision = Tunnel(host);

        Assert.Equal(effect, DecisionJson.EffectName(decision.Effect));
        Assert.Equal(reason, decision.Reason);
    }

    [Theory]
    [InlineData("169.254.169.254", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("169.254.170.2:80", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("metadata.google.internal", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("METADATA.GOOGLE.INTERNAL.", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("127.0.0.1:15000", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("[::1]:8080", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("[fe80::1]", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("[::ffff:169.254.169.254]", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("kubernetes.default.svc", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("app.localhost", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("0.0.0.0", "deny", DecisionReasons.EgressHostReserved)]
    [InlineData("10.0.0.7", "allow", DecisionReasons.DefaultEffect)]
    [InlineData("api.example.com", "allow", DecisionReasons.DefaultEffect)]
    [InlineData("127.0.0.1:7071", "allow", DecisionReasons.RuleMatched)]
    public void Decide_ReservedHosts_NeverOpenedByADefaultOnlyByARuleThatNamesThem(string host, string effect, string reason)
    {
        var set = PolicyFixtures.SetFor("acme", PolicyFixtures.Policy("open", "acme", "- { name: local, match: { egress: { hosts: [\"127.0.0.1:7071\"] } }, effect: allow }", defaultEffect: "allow"));

        var decision = DecisionEngine.Decide(set, new DecisionInput { Tenant = "acme", Agent = new AgentIdentity("bot"), Request = new EgressRequest("GET", host, "/") });

        Assert.Equal((effect, reason), (DecisionJson.EffectName(decision.Effect), decision.Reason));
    }

    [Fact]
    public void Decide_Passthrough_AllowedForASelectedAgentWithoutRules()
    {
        var input = new DecisionInput { Tenant = "acme", Agent = new AgentIdentity("bot-1"), Request = new EgressRequest("POST", "mcp.stripe.com", "/mcp"), Passthrough = true };

        var selected = DecisionEngine.Decide(Set, input);
        var stranger = DecisionEngine.Decide(Set, input with { Agent = new AgentIdentity("intruder") });

        Assert.Equal((Effect.Allow, DecisionReasons.ProtocolPassthrough), (selected.Effect, selected.Reason));
        Assert.Equal((Effect.Deny, DecisionReasons.NoPolicy), (stranger.Effect, stranger.Reason));
    }

    public static TheoryData<string, string?, string?, string?, string> Prices => new()
    {
        // tool, server, LLM (model:in:out), cost header, reservation (or a reason)
        { "stripe.transfer", "fin/stripe", null, null, "0.25" },
        { "stripe.transfer", null, null, null, "0.25" },
        { "stripe.transfer", "fin/stripe", null, "0.00", "0.25" },
        { "stripe.transfer", "fin/stripe", null, "0.75", "0.75" },
        { "openai.chat.completions", "fin/openai", "gpt-4o-mini:1000:500", null, "0.0075" },
        { "openai.chat.completions", "fin/openai", "gpt-4o:1000:500", "0.001", "0.0075" },
        { "openai.chat.completions", "fin/openai", "gpt-4o:3:1", null, "0.000018" },
        { "openai.chat.completions", "fin/openai", "o3:10:10", null, DecisionReasons.ModelNotPriced },
    };

    [Theory]
    [MemberData(nameof(Prices))]
    public void Decide_Reservation_PricedByTheToolServerAndOnlyRaisedByTheCallersEstimate(string tool, string? server, string? llm, string? header, string expected)
    {
        var parts = llm?.Split(':');
        var decision = DecisionEngine.Decide(Set, new DecisionInput
        {
            Tenant = "acme",
            Agent = new AgentIdentity("bot-llm"),
            Tool = tool,
            Args = System.Text.Json.JsonDocument.Parse("""{"amount": 5}""").RootElement,
            ToolServer = server,
            Llm = parts is null ? null : new LlmRequest(parts[0], long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture)),
            Cost = header is null ? null : decimal.Parse(header, System.Globalization.CultureInfo.InvariantCulture),
        });

        if (expected == DecisionReasons.ModelNotPriced)
        {
            Assert.Equal((Effect.Deny, DecisionReasons.ModelNotPriced, "fin/b"), (decision.Effect, decision.Reason, decision.Policy));
            return;
        }

        Assert.Equal(Effect.Allow, decision.Effect);
        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), decision.Cost);
        Assert.Equal(llm is not null, decision.ModelPrice is not null);
    }

    [Theory]
    [InlineData(0, 0, "0")]
    [InlineData(1, 0, "0.000003")]
    [InlineData(1_000_000, 1_000_000, "12.5")]
    [InlineData(3, 7, "0.000078")]
    public void ModelPrice_CostOf_ExactDecimalRoundedUpToTheMicroDollar(long input, long output, string cost) =>
        Assert.Equal(decimal.Parse(cost, System.Globalization.CultureInfo.InvariantCulture), new ModelPrice("gpt-4o", 2.50m, 10.00m).CostOf(input, output));

    [Theory]
    [InlineData("bot-1", "stripe.transfer", true)]
    [InlineData("bot-1", "stripe.payout", false)]
    [InlineData("bot-1", "stripe.refund", false)]
    [InlineData("bot-1", "stripe.balance", false)]
    [InlineData("bot-1", "openai.models", true)]
    [InlineData("intruder", "stripe.transfer", false)]
    public void MayEverAllow_HidesOnlyWhatIsCertainlyDenied(string agent, string tool, bool visible)
    {
        // stripe.refund has only a conditional deny and no allow: it is denied either way (by the rule or the default).
        Assert.Equal(visible, DecisionEngine.MayEverAllow(Set, agent, tool, new EgressRequest("POST", "mcp.stripe.com", "/mcp")));
    }

    [Fact]
    public void MayEverAllow_AnEgressRuleForTheServersHost_KeepsItsToolsVisible()
    {
        var set = PolicyFixtures.SetFor("acme", Yaml.Replace("hosts: [\"plain.example.com\"]", "hosts: [\"mcp.stripe.com\"]", StringComparison.Ordinal));

        Assert.True(DecisionEngine.MayEverAllow(set, "bot-1", "stripe.balance", new EgressRequest("POST", "mcp.stripe.com", "/mcp")));
        Assert.False(DecisionEngine.MayEverAllow(set, "bot-1", "stripe.payout", new EgressRequest("POST", "mcp.stripe.com", "/mcp")));
    }
}
