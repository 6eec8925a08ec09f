using System.Text.Json;
using Aegis.Policy.Conditions;

namespace Aegis.Policy.Tests.Conditions;

/// <summary>
/// Runs one row of a CEL table: the expected outcome is "true", "false", "error: fragment" (evaluation fails with a
/// message containing the fragment) or "compile: fragment" (the condition is refused at load with that reason).
/// </summary>
internal static class CelCases
{
    public const string ArgsJson = """
        {"amount": 5, "fraction": 5.0, "price": 2.5, "big": 9223372036854775807, "currency": "USD", "flag": true, "none": null,
         "tags": ["vip", "eu"], "nested": {"list": [1, 2, 3], "name": "Jane"},
         "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 0}], "pattern": "(", "image": "registry.example/app@sha256:0123"}
        """;

    public static readonly DateTimeOffset Now = new(2026, 11, 26, 9, 30, 0, TimeSpan.Zero);

    public static Dictionary<string, object?> Variables(string argsJson = ArgsJson)
    {
        using var doc = JsonDocument.Parse(argsJson);
        return new Dictionary<string, object?>
        {
            ["args"] = doc.RootElement.Clone(),
            ["tool"] = "stripe.transfer",
            ["agent"] = new Dictionary<string, object?> { ["id"] = "payments-1", ["tenant"] = "acme", ["org"] = "fin", ["scopes"] = new List<object?> { "pay", "read" } },
            ["request"] = new Dictionary<string, object?>
            {
                ["method"] = "POST",
                ["host"] = "api.stripe.com",
                ["path"] = "/v1/transfers",
                ["headers"] = new Dictionary<string, object?> { ["x-env"] = "prod" },
            },
            ["now"] = Now,
            ["cost"] = 0.25,
            ["budget"] = new Dictionary<string, object?> { ["spent"] = 10.0, ["limit"] = 20.0, ["spentToday"] = 10.0, ["spentThisMonth"] = 30.0, ["daily"] = 20.0, ["monthly"] = 100.0 },
            ["region"] = "eu-west-1",
        };
    }

    public static void Check(string expression, string expected, string argsJson = ArgsJson)
    {
        var compiled = CelCondition.TryCompile(expression, out var condition, out var error);
        if (expected.StartsWith("compile:", StringComparison.Ordinal))
        {
            Assert.False(compiled, $"{expression}: expected a load error, but it compiled");
            Assert.Contains(expected["compile:".Length..].Trim(), error, StringComparison.Ordinal);
            return;
        }

        Assert.True(compiled, $"{expression}: {error}");
        var result = condition!.Evaluate(Variables(argsJson));
        if (expected.StartsWith("error:", StringComparison.Ordinal))
        {
            Assert.True(result.Failed, $"{expression}: expected an evaluation error, got {result.Value}");
            Assert.Contains(expected["error:".Length..].Trim(), result.Error, StringComparison.Ordinal);
            return;
        }

        Assert.False(result.Failed, $"{expression}: {result.Error}");
        Assert.True(bool.Parse(expected) == result.Value, $"{expression}: expected {expected}, got {result.Value}");
    }
}
