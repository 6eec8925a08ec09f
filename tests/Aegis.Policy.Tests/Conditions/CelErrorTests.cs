using Aegis.Policy.Conditions;

namespace Aegis.Policy.Tests.Conditions;

/// <summary>
/// Errors are values: &amp;&amp;, || and ?: absorb them as cel-spec says, nothing is folded away at load, every
/// runtime error names its line:column, and neither compiling nor evaluating ever lets an exception out.
/// </summary>
public class CelErrorTests
{
    [Theory]
    // absorption: the logical operators are commutative
    [InlineData("false && (2 / 0 > 3)", "false")]
    [InlineData("(2 / 0 > 3) && false", "false")]
    [InlineData("true || (2 / 0 > 3)", "true")]
    [InlineData("(2 / 0 > 3) || true", "true")]
    [InlineData("true && 1 / 0 != 0", "error: division by zero")]
    [InlineData("1 / 0 != 0 || false", "error: division by zero")]
    [InlineData("false && args.missing", "false")]
    [InlineData("args.missing && false", "false")]
    [InlineData("args.missing || true", "true")]
    [InlineData("args.missing && true", "error: no such key: missing")]
    [InlineData("args.missing || false", "error: no such key: missing")]
    [InlineData("dyn('x') && false", "false")]
    [InlineData("dyn('x') || true", "true")]
    [InlineData("dyn('x') && true", "error: no such overload: _&&_(string, bool)")]
    // the conditional evaluates only the branch it takes
    [InlineData("(true ? 1 : 1 / 0) == 1", "true")]
    [InlineData("(false ? 1 / 0 : 2) == 2", "true")]
    [InlineData("(2 / 0 > 4 ? 'baz' : 'quux') == 'baz'", "error: division by zero")]
    [InlineData("dyn(1) ? true : false", "error: no such overload: _?_:_(int)")]
    [InlineData("args.missing ? true : true", "error: no such key: missing")]
    [InlineData("!dyn(1)", "error: no such overload: !_(int)")]
    // runtime errors of every kind, with the position of the expression that raised them
    [InlineData("cost > 0.0 && 10 / (1 - 1) == 1", "error: 1:18: division by zero")]
    [InlineData("true &&\n  1 / 0 == 1", "error: 2:5: division by zero")]
    [InlineData("args.missing > 1.0", "error: 1:6: no such key: missing")]
    [InlineData("args.nested.list[7] == 1.0", "error: 1:17: index out of range: 7")]
    [InlineData("args.nested.list[-1] == 1.0", "error: index out of range: -1")]
    [InlineData("args.nested.list[0.5] == 1.0", "error: index out of range: 0.5")]
    [InlineData("args.nested.list['a'] == 1.0", "error: invalid_argument")]
    [InlineData("args.nested.list[1.0] == 2.0 && [7, 8, 9][dyn(0u)] == 7", "true")]
    [InlineData("request.headers['x-missing'] == 'a'", "error: 1:16: no such key: x-missing")]
    [InlineData("args.currency > 1", "error: 1:15: no such overload: _>_(string, int)")]
    [InlineData("args.amount.field == 1", "error: type 'double' does not support field selection")]
    [InlineData("{'a': 1, 'a': 2}['a'] == 1", "error: Failed with repeated key: 'a'")]
    [InlineData("{0: 1, 0u: 2}[0] == 1", "error: Failed with repeated key")]
    [InlineData("{dyn(1.5): 1}[1.5] == 1", "error: unsupported key type for a map: double")]
    // load never folds an error into a refusal, and never throws on constants
    [InlineData("false && timestamp('2026-01-02T15:04:05') < now", "false")]
    [InlineData("false && timestamp('9999-12-31T23:59:59Z') + duration('1s') > now", "false")]
    [InlineData("false && duration('5000000000s') + duration('5000000000s') > duration('0')", "false")]
    [InlineData("false && 9223372036854775807 + 1 > 0", "false")]
    // a condition that cannot be a boolean is refused by the checker
    [InlineData("'text'", "compile: must evaluate to a boolean, but the expression is of type string")]
    [InlineData("args.amount + 1.0", "compile: must evaluate to a boolean, but the expression is of type double")]
    [InlineData("1 + 1", "compile: must evaluate to a boolean, but the expression is of type int")]
    [InlineData("[true]", "compile: must evaluate to a boolean")]
    [InlineData("tool", "compile: must evaluate to a boolean")]
    [InlineData("args.flag", "true")]
    [InlineData("args.currency", "error: condition gave a string, not a boolean")]
    public void Evaluate_Errors_FollowCelSpec(string expression, string expected) => CelCases.Check(expression, expected);

    [Fact]
    public void Evaluate_VariableNotSet_IsAnErrorWithItsPosition()
    {
        Assert.True(CelCondition.TryCompile("tool == 'x'", out var condition, out var error), error);
        var result = condition.Evaluate(new Dictionary<string, object?>());
        Assert.True(result.Failed);
        Assert.Equal("1:1: variable 'tool' is not set", result.Error);
    }

    [Fact]
    public void Evaluate_ScopeGivesAWrongType_FailsInsteadOfThrowing()
    {
        // The checker proved tool is a string; a scope that lies (a bug) must still not throw out of Evaluate.
        Assert.True(CelCondition.TryCompile("tool.startsWith('a') && size(agent.scopes) > 0", out var condition, out var error), error);
        var result = condition.Evaluate(new LyingScope());
        Assert.True(result.Failed);
        Assert.Contains("internal error evaluating the condition", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryCompile_RandomInput_NeverThrowsAndEvaluatesWithoutThrowing()
    {
        // Fragments of CEL glued at random: most do not parse; none may throw, and what compiles must evaluate.
        string[] parts =
        [
            "args", ".", "amount", "(", ")", "[", "]", "{", "}", ",", ":", "?", "!", "-", "+", "*", "/", "%", "==", "<", ">=", "&&", "||",
            " in ", "1", "0", "1u", "2.5", "-9223372036854775808", "9223372036854775807", "'a'", "b'\\xff'", "r'\\d'", "'''x'''", "true",
            "null", "has", "exists", "all", "map", "filter", "x", "size", "int", "uint", "double", "string", "bytes", "timestamp",
            "duration", "'1h'", "'2020-01-01T00:00:00Z'", "matches", "'(a|b)*'", "now", "tool", "agent", "scopes", "dyn", "getHours",
            "'\\u00e9'", "\"", "'", "\\", "`", "//", "\n", "\t", "\v", "0x", "1e", ".5",
        ];
        var random = new Random(20261126);
        var variables = CelCases.Variables();
        for (var i = 0; i < 3000; i++)
        {
            var expression = string.Concat(Enumerable.Range(0, random.Next(1, 14)).Select(_ => parts[random.Next(parts.Length)]));
            if (CelCondition.TryCompile(expression, out var condition, out var error))
            {
                var result = condition.Evaluate(variables);
                Assert.False(result.Failed && result.Error!.Contains("internal error", StringComparison.Ordinal), $"{expression}: {result.Error}");
            }
            else
            {
                Assert.StartsWith("CEL does not compile: ", error, StringComparison.Ordinal);
                Assert.DoesNotContain("internal error", error, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void TryCompile_DeepNesting_IsRefusedNotAStackOverflow()
    {
        Assert.False(CelCondition.TryCompile(new string('(', 5000) + "true" + new string(')', 5000), out _, out var error));
        Assert.Contains("nests deeper", error, StringComparison.Ordinal);
        Assert.False(CelCondition.TryCompile(string.Join(" && ", Enumerable.Repeat("true", 5000)), out _, out error));
        Assert.Contains("nests deeper", error, StringComparison.Ordinal);
        Assert.False(CelCondition.TryCompile(new string('!', 5000) + "true", out _, out error));
        Assert.Contains("nests deeper", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryCompile_TheSizesCelSpecRequires_Compile()
    {
        Assert.True(CelCondition.TryCompile(string.Join(" || ", Enumerable.Repeat("false", 32)) + " || true", out _, out var error), error);
        Assert.True(CelCondition.TryCompile(string.Join(" : ", Enumerable.Repeat("false ? false", 24)) + " : true", out _, out error), error);
        Assert.True(CelCondition.TryCompile("int(uint(int(uint(int(uint(int(uint(int(uint(int(uint(7)))))))))))) == 7", out _, out error), error);
        Assert.True(CelCondition.TryCompile("size([[[[[[[[[[[[0]]]]]]]]]]]]) == 1 && " + new string('(', 32) + "true" + new string(')', 32), out _, out error), error);
    }

    private sealed class LyingScope : CelScope
    {
        public override object? Variable(int index) => new object();
    }
}
