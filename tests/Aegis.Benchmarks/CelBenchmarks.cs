using System.Text.Json;
using Aegis.Policy.Conditions;
using BenchmarkDotNet.Attributes;

namespace Aegis.Benchmarks;

/// <summary>One compiled CEL condition evaluated over JSON arguments read in place.</summary>
[MemoryDiagnoser]
[MedianColumn]
public class CelBenchmarks
{
    private CelCondition _condition = null!;
    private CelScope _scope = null!;

    [GlobalSetup]
    public void Setup()
    {
        _condition = CelCondition.TryCompile("args.amount <= 90.0 && args.currency in ['USD', 'EUR']", out var condition, out var error)
            ? condition
            : throw new InvalidOperationException(error);

        using var args = JsonDocument.Parse("""{"amount": 5, "currency": "USD", "memo": "invoice 4411"}""");
        _scope = new DictionaryCelScope(new Dictionary<string, object?> { ["args"] = args.RootElement.Clone() });
    }

    [Benchmark]
    public ConditionResult Evaluate() => _condition.Evaluate(_scope);
}
