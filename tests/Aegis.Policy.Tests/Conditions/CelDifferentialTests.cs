using System.Text.Json;
using Aegis.Policy.Conditions;
using Cel;

namespace Aegis.Policy.Tests.Conditions;

/// <summary>
/// Aegis's CEL compiler against the Cel library (telus-oss/cel-net) on the same expressions and inputs, both given
/// JSON numbers as doubles (cel-spec's JSON mapping): wherever the library yields a boolean, ours yields the same
/// one. Where the library throws, ours must fail too, except for cel-spec's error absorption in &amp;&amp; and ||,
/// which the library does not implement. Where the library is wrong per cel-spec, the case says so and asserts
/// what the spec requires instead.
/// </summary>
public class CelDifferentialTests
{
    private static readonly string[] Expressions =
    [
        "args.amount > 5000.0",
        "args.amount <= 5000.0 && args.currency in ['USD', 'EUR']",
        "args.amount == 5000",
        "args.amount != 10",
        "args.currency == 'USD' || args.currency == 'EUR'",
        "!(args.currency in ['GBP'])",
        "tool.startsWith('stripe.')",
        "tool.endsWith('.refund')",
        "tool.contains('pay')",
        "tool.matches('^stripe\\\\.(transfer|refund)$')",
        "size(args.tags) > 1",
        "'vip' in args.tags",
        "args.tags.exists(t, t == 'vip')",
        "args.tags.all(t, size(t) > 2)",
        "has(args.note)",
        "has(args.amount) && args.amount > 100",
        "args.amount > 100 ? args.currency == 'USD' : true",
        "args.amount + 1 > 5000",
        "args.amount * 2 >= 10000",
        "args.amount % 7 == 3",
        "args.amount - 1 < 0",
        "args.amount + 1.0 > 5000.0",
        "args.amount * 2.0 >= 10000.0",
        "int(args.amount) % 7 == 3",
        "args.amount - 1.0 < 0.0",
        "args.amount == 5000u",
        "dyn(args.ratio) < 1",
        "args.tags.exists(t, t.matches('^v'))",
        "args.currency.matches('^[A-Z]{3}$')",
        "args.tags.map(t, size(t)).exists(n, n > 3)",
        "args.tags.filter(t, t.startsWith('e')) == ['eu']",
        "args.missing > 1",
        "args.currency > 1",
        "args.nested.level == 2",
        "args.nested.level >= 2 && args.nested.flag",
        "'a' + tool == 'astripe.transfer'",
        "tool in ['stripe.transfer', 'stripe.refund']",
        "[1, 2, 3][1] == 2",
        "args.ratio > 0.5",
        "args.ratio < args.amount",
        "int(args.ratio) == 0",
        "string(args.amount) == '5000'",
        "size(tool) == 15",
    ];

    private static readonly string[] Inputs =
    [
        """{"amount": 5000, "currency": "USD", "tags": ["vip", "eu"], "note": "x", "nested": {"level": 2, "flag": true}, "ratio": 0.75}""",
        """{"amount": 12000, "currency": "EUR", "tags": ["no"], "nested": {"level": 1, "flag": false}, "ratio": 0.25}""",
        """{"amount": 3, "currency": "GBP", "tags": [], "nested": {"level": 3, "flag": true}, "ratio": 1.5}""",
        """{"currency": "USD", "tags": ["abc", "defg"], "nested": {}, "ratio": 0}""",
    ];

    private static readonly HashSet<string> ErrorAbsorbing = ["has(args.amount) && args.amount > 100"];

    // The library mixes int and double in arithmetic (5.0 + 1); cel-spec has no such overload, so ours must fail.
    private static readonly HashSet<string> LibraryMixesNumbers = ["args.amount + 1 > 5000", "args.amount * 2 >= 10000", "args.amount % 7 == 3", "args.amount - 1 < 0"];

    public static TheoryData<int, int> Cases()
    {
        var data = new TheoryData<int, int>();
        for (var e = 0; e < Expressions.Length; e++)
        {
            for (var i = 0; i < Inputs.Length; i++)
            {
                data.Add(e, i);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Evaluate_AgreesWithTheCelLibrary(int expressionIndex, int inputIndex)
    {
        var expression = Expressions[expressionIndex];
        using var doc = JsonDocument.Parse(Inputs[inputIndex]);

        object? expected;
        try
        {
            var environment = new CelEnvironment([], "");
            expected = environment.Compile(expression)(new Dictionary<string, object?>
            {
                ["args"] = ToLibraryValue(doc.RootElement),
                ["tool"] = "stripe.transfer",
            }!);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            expected = e;
        }

        Assert.True(CelCondition.TryCompile(expression, out var condition, out var error), error);
        var actual = condition.Evaluate(new Dictionary<string, object?> { ["args"] = doc.RootElement.Clone(), ["tool"] = "stripe.transfer" });

        if (LibraryMixesNumbers.Contains(expression) && doc.RootElement.TryGetProperty("amount", out _))
        {
            Assert.True(actual.Failed, $"{expression} on input {inputIndex}: cel-spec has no overload for double and int, ours gave {actual.Value}");
            Assert.Contains("no such overload", actual.Error, StringComparison.Ordinal);
        }
        else if (expected is bool b)
        {
            Assert.False(actual.Failed, $"{expression} on input {inputIndex}: library {b}, ours failed: {actual.Error}");
            Assert.Equal(b, actual.Value);
        }
        else if (!ErrorAbsorbing.Contains(expression))
        {
            Assert.True(actual.Failed, $"{expression} on input {inputIndex}: library failed ({expected}), ours {actual.Value}");
        }
    }

    private static object? ToLibraryValue(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => ToLibraryValue(p.Value)),
        JsonValueKind.Array => e.EnumerateArray().Select(ToLibraryValue).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
