using System.Text.Json;
using Aegis.Policy.Conditions;
using Aegis.Policy.Decisions;
using Aegis.TestSupport;
using BenchmarkDotNet.Attributes;

namespace Aegis.Benchmarks;

/// <summary>Where the time of a CEL-conditioned decision goes: building variables versus evaluating the program.</summary>
[MemoryDiagnoser]
public class CelBenchmarks
{
    private CelCondition _condition = null!;
    private Dictionary<string, object?> _variables = null!;
    private DecisionInput _input = null!;
    private PolicySet _set = null!;

    [GlobalSetup]
    public void Setup()
    {
        if (!CelCondition.TryCompile("args.amount <= 90.0 && args.currency in ['USD', 'EUR']", out _condition, out var error))
        {
            throw new InvalidOperationException(error);
        }

        _set = PolicyFixtures.SetFor("bench", SyntheticPolicies.Yaml("bench", 1, 10, withCel: true));
        using var args = JsonDocument.Parse("""{"amount": 5, "currency": "USD", "memo": "invoice 4411"}""");
        _input = new DecisionInput { Tenant = "bench", Agent = new AgentIdentity("agent-1"), Tool = "svc0-9.call", Args = args.RootElement.Clone() };
        _variables = CelValues.Variables(_input, _set);
    }

    [Benchmark]
    public ConditionResult EvaluateOnly() => _condition.Evaluate(_variables);

    [Benchmark]
    public Dictionary<string, object?> BuildVariables() => CelValues.Variables(_input, _set);
}
