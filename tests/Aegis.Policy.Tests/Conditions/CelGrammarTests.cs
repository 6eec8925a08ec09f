using Aegis.Policy.Conditions;

namespace Aegis.Policy.Tests.Conditions;

/// <summary>The lexical and syntactic grammar of cel-spec's langdef.md: keywords, reserved words, whitespace, literals and escapes.</summary>
public class CelGrammarTests
{
    [Theory]
    // reserved words may be field names after a dot; the keywords true, false, null and in may not
    [InlineData("{'if': 1}.if == 1 && {'package': 2}.package == 2 && {'while': 3}.while == 3 && {'as': 4}.as == 4", "true")]
    [InlineData("{'true': 1}.true == 1", "compile: 'true' is a keyword and cannot be a field name")]
    [InlineData("args.in == 1.0", "compile: 'in' is a keyword and cannot be a field name")]
    [InlineData("args.null == null", "compile: 'null' is a keyword")]
    [InlineData("if == 1", "compile: 'if' is a reserved word")]
    [InlineData("[1].exists(in, true)", "compile: 'in' is a reserved word")]
    [InlineData("let(1) == 1", "compile: 'let' is a reserved word")]
    [InlineData("args['in'] == 1.0 || true", "true")]
    // unary operators: a run of ! or a run of -, not both
    [InlineData("!!true && !!!false && --1 == 1 && ---1 == -1 && --------------------------------19 == 19", "true")]
    [InlineData("!-1 == 1", "compile: unexpected '-' after '!'")]
    [InlineData("-!true", "compile: unexpected '!' after '-'")]
    [InlineData("-9223372036854775808 == -9223372036854775807 - 1 && -(5) == -5 && -2.3e+1 == -23.0", "true")]
    // only CEL's whitespace: space, tab, LF, CR, form feed; comments run to the end of the line
    [InlineData("1\t==\n1\r&&\f2 == 2 // a comment", "true")]
    [InlineData("1 == // a comment\n 1", "true")]
    [InlineData("1\v== 1", "compile: unexpected whitespace character U+000B")]
    [InlineData("1\u00a0== 1", "compile: unexpected whitespace character U+00A0")]
    [InlineData("1\u2003== 1", "compile: unexpected whitespace character U+2003")]
    // trailing commas in list and map literals (and so [,] and {,} are empty), never in calls
    [InlineData("[1, 2,] == [1, 2] && {'a': 1,} == {'a': 1} && [,] == [] && {,} == {}", "true")]
    [InlineData("[1,,2] == [1]", "compile: unexpected ','")]
    [InlineData("size([1],) == 1", "compile: unexpected ')'")]
    [InlineData("{'a' 1} == {}", "compile: expected ':'")]
    // string literals: quotes, raw strings, triple quotes and every escape
    [InlineData("""size('\a\b\f\n\r\t\v\\\?\"\'\`') == 12 && '\x41\X42\101\u0043\U00000044' == 'ABACD' && '\x4a\u01aB' == 'J\u01AB'""", "true")]
    [InlineData("""r'\d' == '\\d' && R'\n' == '\\n' && r"\\" == '\\\\' && '''x''x''' == "x''x" && '""' == "\"\"" """, "true")]
    [InlineData("\"\"\"two\nlines\"\"\" == 'two\\nlines' && '''it's''' == \"it's\"", "true")]
    [InlineData("'two\nlines' == ''", "compile: unterminated string literal")]
    [InlineData("""'\uD83D\uDE00' == ''""", "compile: invalid Unicode code point in escape: U+D83D")]
    [InlineData("""'\U00110000' == ''""", "compile: invalid Unicode code point in escape: U+110000")]
    [InlineData("""'\s' == ''""", "compile: invalid escape sequence \\s")]
    [InlineData("""'\8' == ''""", "compile: invalid escape sequence \\8")]
    [InlineData("""'\400' == ''""", "compile: invalid escape sequence \\4")]
    [InlineData("""'\x4' == ''""", "compile: expected 2 hexadecimal digits")]
    [InlineData("'unterminated", "compile: unterminated string literal")]
    // bytes literals: octets for \x and octal, UTF-8 for the rest
    [InlineData("""b'abc' == bytes('abc') && size(b'\xff\x00') == 2 && b'\377' == b'\xff' && b'ÿ' == b'\303\277' && B'\x4a' == b'J' && br'\x' == b'\\x'""", "true")]
    [InlineData("""b'\u0041' == b'A'""", "compile: \\u escapes are not allowed in bytes literals")]
    [InlineData("b'a' < b'b' && b'' < b'\\x00' && b'\\x00\\x01' < b'\\x01'", "true")]
    // numbers
    [InlineData("1e5 == 100000.0 && 1E-2 == 0.01 && .5e1 == 5.0 && 0x7fffffffffffffff == 9223372036854775807 && 0XFFu == 255u", "true")]
    [InlineData("0x == 0", "compile: hexadecimal literal without digits")]
    [InlineData("1.e5 == 1.0", "compile: type 'int' does not support field selection")]
    // names and structure
    [InlineData(".tool == 'stripe.transfer' && .args.amount == 5.0", "true")]
    [InlineData("args{a: 1} == {}", "compile: message construction")]
    [InlineData("tool # 1", "compile: unexpected character '#'")]
    [InlineData("args.amount >", "compile: the expression ended where a value was expected")]
    [InlineData("tool == 'x' )", "compile: unexpected ')' after the end of the expression")]
    [InlineData("args.x ? true", "compile: expected ':' but the expression ended")]
    [InlineData("user == 1", "compile: undeclared reference to 'user'")]
    [InlineData("frobnicate(1) == 1", "compile: undeclared reference to function 'frobnicate'")]
    [InlineData("tool.size() == 15 && size(tool) == 15", "true")]
    [InlineData("startsWith(tool, 'x')", "compile: startsWith() is a method: call it as x.startsWith(...)")]
    [InlineData("agent.nope == 'x'", "compile: undefined field 'nope' of agent; its fields are id, tenant, org, scopes")]
    [InlineData("agent.id == 'payments-1' && agent['id'] == 'payments-1' && 'id' in agent && size(agent) == 4 && request.method == 'POST'", "true")]
    [InlineData("budget.daily == 20.0 && budget.monthly == 100.0 && budget.spentThisMonth == 30.0 && region == 'eu-west-1'", "true")]
    [InlineData("tool.x == 1", "compile: type 'string' does not support field selection")]
    public void Compile_Grammar_FollowsLangdef(string expression, string expected) => CelCases.Check(expression, expected);

    [Fact]
    public void TryCompile_Error_NamesLineAndColumn()
    {
        Assert.False(CelCondition.TryCompile("tool == 'x' &&\n  nope > 1", out _, out var error));
        Assert.Equal("CEL does not compile: 2:3: undeclared reference to 'nope'; the variables are agent, tool, args, request, cost, budget, region, now", error);
    }
}
