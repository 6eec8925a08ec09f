using System.Text.Json;
using Aegis.Policy.Conditions;

namespace Aegis.Policy.Tests.Conditions;

/// <summary>Table-driven semantics of Aegis's CEL compiler (cel-spec behaviour on the subset it supports).</summary>
public class CelCompilerTests
{
    private const string Args = """
        {"amount": 5, "price": 2.5, "currency": "USD", "flag": true, "none": null, "big": 9223372036854775807,
         "nested": {"list": [1, 2, 3], "name": "Jane"}, "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 0}]}
        """;

    private static readonly DateTimeOffset Now = new(2026, 11, 26, 9, 30, 0, TimeSpan.Zero);

    private static Dictionary<string, object?> Variables()
    {
        using var doc = JsonDocument.Parse(Args);
        return new Dictionary<string, object?>
        {
            ["args"] = doc.RootElement.Clone(),
            ["tool"] = "stripe.transfer",
            ["agent"] = new Dictionary<string, object?> { ["id"] = "payments-1", ["scopes"] = new List<object?> { "pay", "read" } },
            ["request"] = new Dictionary<string, object?> { ["headers"] = new Dictionary<string, object?> { ["x-env"] = "prod" } },
            ["now"] = Now,
            ["cost"] = 0.25,
            ["region"] = "eu-west-1",
        };
    }

    [Theory]
    // arithmetic and literals
    [InlineData("1 + 2 == 3", "true")]
    [InlineData("7 / 2 == 3 && 7 % 3 == 1 && -7 / 2 == -3", "true")]
    [InlineData("0x10 == 16 && 1u + 2u == 3u", "true")]
    [InlineData("1.5 + 1.5 == 3.0 && 1e3 == 1000.0 && .5 == 0.5", "true")]
    [InlineData("'a' + \"b\" == 'ab' && r'\\n' == '\\\\n' && '\\u00e9' == 'é'", "true")]
    [InlineData("[1, 2] + [3] == [1, 2, 3] && {'a': 1}.a == 1 && {'a': 1}['a'] == 1", "true")]
    [InlineData("-9223372036854775808 < 0", "true")]
    [InlineData("args.big + 1 > 0", "error")]
    [InlineData("args.amount / 0 == 1", "error")]
    [InlineData("args.amount * 1.5 == 7.5", "true")]
    // comparisons across numeric types
    [InlineData("args.amount > 4.5 && args.amount == 5.0 && args.amount < 6u", "true")]
    [InlineData("args.price > args.amount", "false")]
    [InlineData("'abc' < 'abd' && true > false", "true")]
    [InlineData("args.currency > 1", "error")]
    [InlineData("args.amount == 'five'", "false")]
    // logic, with cel-spec error absorption
    [InlineData("false && args.missing", "false")]
    [InlineData("args.missing && false", "false")]
    [InlineData("true || args.missing", "true")]
    [InlineData("args.missing || true", "true")]
    [InlineData("args.missing && true", "error")]
    [InlineData("args.missing || false", "error")]
    [InlineData("!args.flag == false", "true")]
    [InlineData("args.amount > 3 ? args.flag : false", "true")]
    [InlineData("args.missing ? true : true", "error")]
    // strings
    [InlineData("tool.startsWith('stripe.') && tool.endsWith('transfer') && tool.contains('.tr')", "true")]
    [InlineData("args.nested.name.lowerAscii() == 'jane' && 'x'.upperAscii() == 'X'", "true")]
    [InlineData("tool.matches('^stripe\\\\.[a-z]+$') && matches(tool, 'transfer')", "true")]
    [InlineData("size('héllo') == 5 && size(args.nested.list) == 3 && args.nested.list.size() == 3 && size(args) == 8", "true")]
    [InlineData("args.currency in ['USD', 'EUR'] && !('GBP' in ['USD', 'EUR']) && 2 in [1.0, 2.0]", "true")]
    [InlineData("'pay' in agent.scopes && request.headers['x-env'] == 'prod'", "true")]
    // JSON arguments read in place
    [InlineData("args.nested.list[1] == 2 && args.items[0].sku == 'A1' && args.flag == true && args.none == null", "true")]
    [InlineData("has(args.amount) && !has(args.nope) && has(args.nested.name) && 'amount' in args", "true")]
    [InlineData("args.nested.list[7] == 1", "error")]
    [InlineData("args.missing > 1", "error")]
    [InlineData("args.amount.field == 1", "error")]
    // macros
    [InlineData("args.nested.list.exists(x, x > 2) && args.nested.list.all(x, x > 0) && args.nested.list.exists_one(x, x == 2)", "true")]
    [InlineData("args.nested.list.filter(x, x > 1) == [2, 3] && args.nested.list.map(x, x * 2) == [2, 4, 6]", "true")]
    [InlineData("args.nested.list.map(x, x > 1, x * 10) == [20, 30]", "true")]
    [InlineData("args.items.exists(i, i.qty == 0 && i.sku.startsWith('B'))", "true")]
    [InlineData("args.items.all(i, i.price > 0)", "error")]
    [InlineData("args.items.exists(i, i.qty > 1) || args.items.exists(i, i.price > 0)", "true")]
    [InlineData("args.nested.exists(k, k == 'name')", "true")]
    // time
    [InlineData("now > timestamp('2020-01-01T00:00:00Z') && now.getHours() == 9 && now.getMinutes() == 30", "true")]
    [InlineData("now.getDayOfWeek() == 4 && now.getHours('Asia/Tokyo') == 18 && now.getFullYear() == 2026 && now.getMonth() == 10", "true")]
    [InlineData("duration('1h30m') == duration('90m') && now - duration('1h') < now && timestamp('2026-11-26T09:30:00Z') == now", "true")]
    [InlineData("now.getHours('Mars/Base') == 1", "error")]
    // conversions
    [InlineData("int('42') == 42 && double(args.amount) == 5.0 && string(args.amount) == '5' && int(2.9) == 2 && uint(3) == 3u", "true")]
    [InlineData("int(args.currency) == 1", "error")]
    [InlineData("cost < 1.0 && region == 'eu-west-1' && agent.id == 'payments-1'", "true")]
    public void Evaluate_Expression_FollowsCelSemantics(string expression, string expected)
    {
        Assert.True(CelCondition.TryCompile(expression, out var condition, out var error), error);

        var result = condition.Evaluate(Variables());

        Assert.True(expected == (result.Failed ? "error" : result.Value ? "true" : "false"), $"{expression}: {(result.Failed ? result.Error : result.Value)}");
    }

    [Theory]
    [InlineData("args.amount >", "ended where a value was expected")]
    [InlineData("user == 1", "undeclared reference to 'user'")]
    [InlineData("'text'", "must evaluate to a boolean")]
    [InlineData("args.amount + 1", "must evaluate to a boolean")]
    [InlineData("frobnicate(1) == 1", "unknown function 'frobnicate'")]
    [InlineData("has(args)", "has() needs a field selection")]
    [InlineData("1 / 0 == 1", "division by zero")]
    [InlineData("timestamp('yesterday') < now", "RFC 3339")]
    [InlineData("duration('forever') > duration('1s')", "duration()")]
    [InlineData("tool.matches('(unclosed')", "invalid or unsupported regular expression")]
    [InlineData("tool.matches('(a)\\\\1')", "invalid or unsupported regular expression")]
    [InlineData("b'bytes' == b'x'", "bytes literals are not supported")]
    [InlineData("if == 1", "reserved word")]
    [InlineData("args.x ? true", "expected ':'")]
    [InlineData("tool == 'x' )", "after the end of the expression")]
    [InlineData("'unterminated", "unterminated string")]
    [InlineData("tool == '\\q'", "invalid escape")]
    [InlineData("99999999999999999999 > 1", "out of range")]
    [InlineData("args.items.exists(args, true)", "hides another name")]
    [InlineData("size(1, 2) == 1", "takes 1 argument")]
    [InlineData("tool # 1", "unexpected character")]
    public void TryCompile_BadExpression_IsRefusedWithReason(string expression, string reasonFragment)
    {
        Assert.False(CelCondition.TryCompile(expression, out _, out var error));
        Assert.Contains(reasonFragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryCompile_DeepNesting_IsRefusedNotAStackOverflow()
    {
        var expression = new string('(', 500) + "true" + new string(')', 500);
        Assert.False(CelCondition.TryCompile(expression, out _, out var error));
        Assert.Contains("nests deeper", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryCompile_ErrorPosition_IsOneBased()
    {
        Assert.False(CelCondition.TryCompile("tool == nope", out _, out var error));
        Assert.StartsWith("CEL does not compile at position 9:", error, StringComparison.Ordinal);
    }
}
