namespace Aegis.Policy.Tests.Conditions;

/// <summary>Strings are sequences of code points: ordering, size() and the string functions work on code points, not UTF-16 units.</summary>
public class CelStringTests
{
    [Theory]
    [InlineData("""'\uffff' < '\U0001f600' && '\U0001f600' > '\ufb01' && '\ue000' < '\U00010000'""", "true")]
    [InlineData("'a' < 'b' && 'abc' < 'abd' && '' < 'a' && 'Abc' < 'aBC' && 'abc' < 'abcd' && !('a' < 'AB')", "true")]
    [InlineData("""'a' < '\u00E1' && 'f' < '\u1EBF' && 'α' > 'omega' && 'τ' >= 't'""", "true")]
    [InlineData("""size('\U0001F600') == 1 && size('héllo') == 5 && size('') == 0 && 'πέντε'.size() == 5""", "true")]
    [InlineData("""'fiance\u0301'.size() == 7 && size(b'\xF0\x9F\xA4\xAA') == 4 && size(string(b'\xF0\x9F\xA4\xAA')) == 1""", "true")]
    [InlineData("""'Am\u00E9lie' == 'Ame\u0301lie'""", "false")]
    [InlineData("""'\U0001F431\U0001F600\U0001F61B'.startsWith('\U0001F431') && '\U0001F431\U0001F600\U0001F61B'.endsWith('\U0001F61B')""", "true")]
    [InlineData("'hello'.contains('ell') && !'hello'.contains('ol') && 'hello'.contains('') && 'Straße'.contains('aß')", "true")]
    [InlineData("'foobar'.startsWith('foo') && !'foobar'.startsWith('bar') && 'foobar'.endsWith('') && ''.startsWith('')", "true")]
    [InlineData("'a' + 'b' == 'ab' && 'he' + 'llo' == 'hello' && '' + '' == ''", "true")]
    [InlineData("'ÀBC'.lowerAscii() == 'Àbc' && 'àbc'.upperAscii() == 'àBC'", "true")]
    [InlineData("tool.startsWith('stripe.') && tool.endsWith('transfer') && size(tool) == 15", "true")]
    [InlineData("'abc' == r'abc' && 'ίσος' == 'ίσος' && 'a' != 'à'", "true")]
    [InlineData("'abc' < 1", "compile: found no matching overload for '<' applied to '(string, int)'")]
    [InlineData("dyn('abc') < 1", "error: no such overload: _<_(string, int)")]
    [InlineData("'abc'.contains(1)", "compile: found no matching overload for 'contains'")]
    [InlineData("size(1) == 1", "compile: found no matching overload for 'size' applied to '(int)'")]
    public void Evaluate_Strings_AreCodePoints(string expression, string expected) => CelCases.Check(expression, expected);
}
