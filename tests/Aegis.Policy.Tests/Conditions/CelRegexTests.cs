namespace Aegis.Policy.Tests.Conditions;

/// <summary>
/// matches() is RE2: an unanchored search; \d \w \s \b are ASCII; $ is the end of the text (not before a final
/// newline); . and classes match code points; (?P&lt;name&gt;), \p{Greek} and flags work; what RE2 rejects is refused.
/// </summary>
public class CelRegexTests
{
    [Theory]
    [InlineData("'hubba'.matches('ubb') && 'cows'.matches('') && ''.matches('') && !''.matches('foo|bar')", "true")]
    [InlineData("'grey'.matches('gr(a|e)y') && 'banana'.matches('ba(na)*') && 'mañana'.matches('a+ñ+a+')", "true")]
    [InlineData("""'\U0001F431\U0001F600\U0001F600'.matches('(a|\U0001F600){2}')""", "true")]
    [InlineData("matches('foobar', 'foo.*') && 'foobar'.matches('^foo.*$')", "true")]
    // \d, \w, \s are ASCII only
    [InlineData("""'3'.matches('^\\d$') && !'٣'.matches('^\\d$') && !'３'.matches('\\d')""", "true")]
    [InlineData("""'_a1'.matches('^\\w+$') && !'é'.matches('^\\w$') && 'é'.matches('^\\W$')""", "true")]
    [InlineData("""' \t\n\f\r'.matches('^\\s+$') && !'\u00a0'.matches('\\s') && !'\v'.matches('\\s') && '\v'.matches('^[[:space:]]$')""", "true")]
    // $ is the end of the text; ^ the start; (?m) makes them line anchors
    [InlineData("""'abc\n'.matches('^abc$')""", "false")]
    [InlineData("""'abc\n'.matches('(?m)^abc$') && 'x\nabc'.matches('(?m)^abc') && !'x\nabc'.matches('^abc')""", "true")]
    [InlineData("""'abc\n'.matches('abc\\z') || 'abc\n'.matches('^abc\\z')""", "false")]
    // . excludes only \n, (?s) includes it; . and [^x] take one code point, not half of a surrogate pair
    [InlineData("""!'a\nb'.matches('a.b') && 'a\nb'.matches('(?s)a.b') && 'a\rb'.matches('a.b')""", "true")]
    [InlineData("""'\U0001F600'.matches('^.$') && !'\U0001F600'.matches('^..$') && '\U0001F600'.matches('^[^a]$')""", "true")]
    [InlineData("""'\U0001F600'.matches('^[\U0001F600-\U0001F64F]$') && !'\U0001F650'.matches('^[\U0001F600-\U0001F64F]$')""", "true")]
    // case folding: (?i), including the Kelvin sign and long s of Unicode simple case folding
    [InlineData("""'ABC'.matches('(?i)abc') && !'ABC'.matches('abc') && '\u212a'.matches('(?i)k') && 'ſ'.matches('(?i)S') && 'Σ'.matches('(?i)ς')""", "true")]
    [InlineData("'aBc'.matches('a(?i:b)c') && !'aBC'.matches('a(?i:b)c') && 'AB'.matches('(?i)a(?-i)B') && !'Ab'.matches('(?i)a(?-i)B')", "true")]
    // Unicode classes: scripts, categories, negations
    [InlineData("""'Ωμέγα'.matches('^\\p{Greek}+$') && !'abc'.matches('\\p{Greek}') && 'ab'.matches('^\\P{Greek}+$') && 'ab'.matches('^\\p{^Greek}+$')""", "true")]
    [InlineData("""'ἀρχή'.matches('^\\p{Greek}+$') && 'é'.matches('^\\pL$') && 'É'.matches('^\\p{Lu}$') && '٣'.matches('^\\p{Nd}$') && '𝐀'.matches('^\\p{L}$')""", "true")]
    [InlineData("""'x'.matches('[[:alpha:]]') && !'1'.matches('[[:alpha:]]') && '1'.matches('[[:^alpha:]]') && 'a'.matches('[\\d[:lower:]]')""", "true")]
    // groups, named groups, flags, quoting, counted repetition, escapes
    [InlineData("""'john smith'.matches('(?P<first>\\w+) (?P<last>\\w+)') && 'ab'.matches('(?<x>a)b') && 'ab'.matches('(?:a)(b)')""", "true")]
    [InlineData("""'a.b'.matches('^\\Qa.b\\E$') && !'axb'.matches('^\\Qa.b\\E$') && 'a+b'.matches('a\\+b')""", "true")]
    [InlineData("'aaa'.matches('^a{3}$') && !'aa'.matches('^a{3}$') && 'aaaa'.matches('^a{2,}$') && 'ab'.matches('^a{0,1}b$') && 'a{'.matches('a{')", "true")]
    [InlineData("""'A'.matches('\\x41') && 'A'.matches('\\x{41}') && 'A'.matches('\\101') && '\t'.matches('\\t') && 'aB'.matches('a*?B')""", "true")]
    // \b is an ASCII word boundary: é is not a word character
    [InlineData("""'café'.matches('caf\\b') && 'a b'.matches('a\\b') && !'ab'.matches('a\\b') && 'ab'.matches('a\\B')""", "true")]
    // linear time: a pattern that is exponential for a backtracking engine
    [InlineData("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab'.matches('^(a|a)*$')", "false")]
    [InlineData("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab'.matches('^(a+)+b$')", "true")]
    // the devops sample's image digest check: a trailing newline no longer passes
    [InlineData("""'registry.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'.matches('^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[a-f0-9]{64}$')""", "true")]
    [InlineData("""'registry.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n'.matches('^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[a-f0-9]{64}$')""", "false")]
    // what RE2 rejects is refused when the condition loads
    [InlineData("""tool.matches('(a)\\1')""", "compile: backreferences are not supported")]
    [InlineData("tool.matches('(?=a)')", "compile: invalid or unsupported Perl syntax")]
    [InlineData("tool.matches('(?!a)')", "compile: invalid or unsupported Perl syntax")]
    [InlineData("tool.matches('(?<=a)b')", "compile: invalid or unsupported Perl syntax")]
    [InlineData("tool.matches('(?<!a)b')", "compile: invalid or unsupported Perl syntax")]
    [InlineData("tool.matches('(?>a)')", "compile: invalid or unsupported Perl syntax")]
    [InlineData("tool.matches('(?P=x)')", "compile: invalid or unsupported Perl syntax")]
    [InlineData("tool.matches('a++')", "compile: bad repetition operator")]
    [InlineData("tool.matches('a**')", "compile: bad repetition operator")]
    [InlineData("tool.matches('a{1001}')", "compile: bad repetition operator")]
    [InlineData("tool.matches('a{2,1}')", "compile: bad repetition operator")]
    [InlineData("tool.matches('*a')", "compile: missing argument to repetition operator")]
    [InlineData("""tool.matches('a\\Z')""", "compile: invalid escape sequence")]
    [InlineData("""tool.matches('\\e')""", "compile: invalid escape sequence")]
    [InlineData("""tool.matches('\\C')""", "compile: invalid escape sequence")]
    [InlineData("""tool.matches('\\p{Klingon}')""", "compile: invalid character class range")]
    [InlineData("tool.matches('(?P<n>a)(?P<n>b)')", "compile: duplicate capture group name")]
    [InlineData("tool.matches('(unclosed')", "compile: missing closing )")]
    [InlineData("tool.matches('closed)')", "compile: unmatched closing parenthesis")]
    [InlineData("tool.matches('[a')", "compile: missing closing ]")]
    [InlineData("tool.matches('[z-a]')", "compile: invalid character class range")]
    [InlineData("tool.matches('(?i')", "compile: invalid or unsupported Perl syntax")]
    // a pattern computed at run time is compiled then, and a bad one is an evaluation error
    [InlineData("tool.matches(args.pattern)", "error: invalid regular expression '('")]
    [InlineData("tool.matches(args.currency) == false", "true")]
    [InlineData("args.amount.matches('5')", "error: no such overload: matches(double)")]
    public void Evaluate_Matches_IsRe2(string expression, string expected) => CelCases.Check(expression, expected);

    [Theory]
    [InlineData("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[a-f0-9]{64}$")]
    [InlineData("(?i)caf\\b|^x$|(?m)^y")]
    [InlineData("\\p{Greek}+\\P{L}|[^a-c]{2,3}z")]
    [InlineData("(a|ab)(c|bcd)(d*)$")]
    [InlineData("\\bfoo\\B.|\\Aba?r\\z")]
    public void IsMatch_LazyDfa_AgreesWithTheSimulatedAutomaton(string pattern)
    {
        // The DFA is a cache over the automaton; on every text both must give the same answer.
        Assert.True(Aegis.Policy.Conditions.Regex.Re2Regex.TryCompile(pattern, out var regex, out var error), error);
        string[] alphabet = ["a", "b", "c", "d", "z", "x", "y", "f", "o", "r", "é", "Ω", "😀", "\n", " ", ":", "/", "0", "@sha256:", "K"];
        var random = new Random(17);
        for (var i = 0; i < 2000; i++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(0, 12)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            Assert.True(regex!.IsMatch(text) == regex.IsMatchBySimulation(text), $"{pattern} on \"{text}\"");
        }
    }

    [Fact]
    public void IsMatch_MoreDfaStatesThanTheCache_FallsBackToSimulation()
    {
        // "an a 13 characters from the end" needs 2^13 DFA states, past the cache: answers must stay right.
        Assert.True(Aegis.Policy.Conditions.Regex.Re2Regex.TryCompile("a[ab]{12}$", out var regex, out var error), error);
        var random = new Random(3);
        var text = string.Concat(Enumerable.Range(0, 20_000).Select(_ => random.Next(2) == 0 ? 'a' : 'b'));
        Assert.True(regex!.IsMatch(text + "a" + new string('b', 12)));
        Assert.False(regex.IsMatch(text + new string('b', 13)));
        Assert.Equal(regex.IsMatchBySimulation(text), regex.IsMatch(text));
    }
}
