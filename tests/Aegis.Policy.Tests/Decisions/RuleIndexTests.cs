using Aegis.Policy.Decisions;
using Aegis.Policy.Resources;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Decisions;

/// <summary>The per-tool and per-agent indexes must never change a decision, only its cost.</summary>
public class RuleIndexTests
{
    [Fact]
    public void Decide_RuleMatchingByToolAndEgress_IsEvaluatedOnce()
    {
        var yaml = PolicyFixtures.Policy("p", "acme", """
            - name: both
              match: { tools: ["crm.*"], egress: { hosts: ["crm.example.com"] } }
              effect: sanitize
              redact: [ { detector: email } ]
            """);
        var input = PolicyFixtures.ToolCall("acme", "bot", "crm.read", """{"to":"a@example.com"}""") with
        {
            Request = new EgressRequest("POST", "crm.example.com", "/"),
        };

        var decision = DecisionEngine.Decide(PolicyFixtures.SetFor("acme", yaml), input);

        Assert.Equal(Effect.Sanitize, decision.Effect);
        Assert.Equal([new Aegis.Policy.Redaction.RedactionRecord("args.to", "email", 1)], decision.Redactions);
    }

    [Fact]
    public void Decide_EgressAndToolCandidatesInterleave_FirstInPolicyOrderWinsTies()
    {
        // Both rules deny; the first policy by namespace/name ("a") must be the one reported.
        var yaml = PolicyFixtures.Policy("b", "acme", "- { name: by-tool, match: { tools: [\"x\"] }, effect: deny }")
            + PolicyFixtures.Policy("a", "acme", "- { name: by-host, match: { egress: { hosts: [\"h.example\"] } }, effect: deny }");
        var input = PolicyFixtures.ToolCall("acme", "bot", "x") with { Request = new EgressRequest("GET", "h.example", "/") };

        var decision = DecisionEngine.Decide(PolicyFixtures.SetFor("acme", yaml), input);

        Assert.Equal(("default/a", "by-host"), (decision.Policy, decision.Rule));
    }

    [Fact]
    public void Decide_MoreDistinctToolsAndAgentsThanTheMemoHolds_StaysCorrect()
    {
        var set = PolicyFixtures.SetFor("acme", PolicyFixtures.Policy("p", "acme", """
            - { name: even, match: { tools: ["tool-*0", "tool-*2", "tool-*4", "tool-*6", "tool-*8"] }, effect: allow }
            """, agents: "\"agent-*\""));

        for (var i = 0; i < PolicySet.MaxMemoEntries + 500; i++)
        {
            var decision = DecisionEngine.Decide(set, PolicyFixtures.ToolCall("acme", $"agent-{i}", $"tool-{i}"));
            Assert.Equal(i % 2 == 0 ? Effect.Allow : Effect.Deny, decision.Effect);
        }

        Assert.Equal(Effect.Deny, DecisionEngine.Decide(set, PolicyFixtures.ToolCall("acme", "other-1", "tool-2")).Effect);
    }

    [Fact]
    public void Decide_SameSetFromManyThreads_GivesTheSameAnswers()
    {
        var set = PolicyFixtures.SetFor("acme", SyntheticPolicies.Yaml("acme", 20, 10, withCel: true));
        var failures = 0;
        Parallel.For(0, 20_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var p = i % 20;
            var r = i % 10;
            var amount = i % 200;
            var input = PolicyFixtures.ToolCall("acme", "agent-1", $"svc{p}-{r}.call", $$"""{"amount": {{amount}}, "currency": "USD"}""");
            var expected = amount <= r * 10 ? (r % 7 == 3 ? Effect.Deny : Effect.Allow) : Effect.Deny;
            if (DecisionEngine.Decide(set, input).Effect != expected)
            {
                Interlocked.Increment(ref failures);
            }
        });

        Assert.Equal(0, failures);
    }
}
