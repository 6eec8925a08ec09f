using System.Text.Json;
using Aegis.Policy.Decisions;
using Aegis.TestSupport;
using BenchmarkDotNet.Attributes;

namespace Aegis.Benchmarks;

/// <summary>
/// One decision against a tenant with 10 / 100 / 1,000 glob-matched rules (10 rules per policy), with and
/// without CEL conditions. The call matches the last rule of the last policy, so every rule is scanned.
/// </summary>
[MemoryDiagnoser]
public class DecisionBenchmarks
{
    private PolicySet _set = null!;
    private DecisionInput _input = null!;

    [Params(10, 100, 1000)]
    public int Rules { get; set; }

    [Params(false, true)]
    public bool Cel { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var policies = Math.Max(1, Rules / 10);
        _set = PolicyFixtures.SetFor("bench", SyntheticPolicies.Yaml("bench", policies, Rules / policies, Cel));
        using var args = JsonDocument.Parse("""{"amount": 5, "currency": "USD", "memo": "invoice 4411"}""");
        _input = new DecisionInput
        {
            Tenant = "bench",
            Agent = new AgentIdentity("agent-1", "org", ["payments"]),
            Tool = $"svc{policies - 1}-{(Rules / policies) - 1}.call",
            Args = args.RootElement.Clone(),
            Region = "eu-west-1",
        };
        var check = DecisionEngine.Decide(_set, _input);
        if (check.Effect != Aegis.Policy.Resources.Effect.Allow || check.Rule is null)
        {
            throw new InvalidOperationException($"benchmark input does not reach its rule: {check.Effect} {check.Reason} {check.Message}");
        }
    }

    [Benchmark]
    public Decision Decide() => DecisionEngine.Decide(_set, _input);
}
