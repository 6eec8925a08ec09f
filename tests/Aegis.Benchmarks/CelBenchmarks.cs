using System.Text.Json;
using Aegis.Policy.Conditions;
using BenchmarkDotNet.Attributes;

namespace Aegis.Benchmarks;

/// <summary>
/// One compiled CEL condition evaluated over JSON arguments read in place: the decision benchmarks' condition, an
/// RE2 match (the devops sample's image digest check), a comprehension, and a timestamp accessor in a time zone.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class CelBenchmarks
{
    private static readonly Dictionary<string, string> Conditions = new(StringComparer.Ordinal)
    {
        ["amount-currency"] = "args.amount <= 90.0 && args.currency in ['USD', 'EUR']",
        ["image-digest"] = "args.image.matches('^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[a-f0-9]{64}$')",
        ["tags-exists"] = "args.tags.exists(t, t == 'vip')",
        ["hours-in-zone"] = "now.getHours('Europe/Berlin') >= 9",
    };

    private CelCondition _condition = null!;
    private CelScope _scope = null!;

    [Params("amount-currency", "image-digest", "tags-exists", "hours-in-zone")]
    public string Condition { get; set; } = "amount-currency";

    [GlobalSetup]
    public void Setup()
    {
        _condition = CelCondition.TryCompile(Conditions[Condition], out var condition, out var error)
            ? condition
            : throw new InvalidOperationException(error);

        using var args = JsonDocument.Parse("""
            {"amount": 5, "currency": "USD", "memo": "invoice 4411", "tags": ["eu", "retail", "vip"],
             "image": "registry.initech.io/billing/api@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
            """);
        _scope = new DictionaryCelScope(new Dictionary<string, object?>
        {
            ["args"] = args.RootElement.Clone(),
            ["now"] = new DateTimeOffset(2026, 11, 26, 9, 30, 0, TimeSpan.Zero),
        });
        if (_condition.Evaluate(_scope) is { Failed: true } failed)
        {
            throw new InvalidOperationException(failed.Error);
        }
    }

    [Benchmark]
    public ConditionResult Evaluate() => _condition.Evaluate(_scope);
}
