using System.Text.RegularExpressions;

namespace Aegis.Policy.Redaction;

/// <summary>
/// Decides whether one regex match really is what the detector looks for: <paramref name="text"/> is the folded
/// text the match is in, <paramref name="key"/> the JSON object key (or header name) the text is the value of.
/// </summary>
public delegate bool MatchCheck(string text, Match match, string? key);

/// <summary>A compiled redaction: a regex over folded text, an optional check on each match, and the replacement text.</summary>
public sealed class RedactionPattern
{
    public RedactionPattern(string name, Regex regex, MatchCheck? accept, string replacement)
    {
        Name = name;
        Regex = regex;
        Accept = accept;
        Replacement = replacement;
    }

    /// <summary>Detector name, or "pattern" for a custom regex.</summary>
    public string Name { get; }

    public Regex Regex { get; }

    /// <summary>Second check on a match (Luhn, mod-97, SSN context, ...); null accepts every match.</summary>
    public MatchCheck? Accept { get; }

    public string Replacement { get; }
}

/// <summary>
/// The built-in detectors. They run over <see cref="TextFold"/>ed text, so Unicode digits, full-width forms and
/// invisible characters do not hide a value, and they accept the separators people write inside numbers (space, dot,
/// dash, slash, underscore) when used consistently. Every regex is non-backtracking, so no input can make matching hang.
/// </summary>
public static class Detectors
{
    /// <summary>Built-in detector names, in the order they are applied (most specific first).</summary>
    public static readonly string[] Names = ["credit_card", "iban", "us_ssn", "email", "phone"];

    private const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;
    private const string Separator = "[ .\\-/_]";

    private static readonly Dictionary<string, (Regex Regex, MatchCheck? Accept)> Definitions = new(StringComparer.Ordinal)
    {
        // Contiguous 13-19 digits, or the printed groupings: 4-4-4-4(-3), and 4-6-5 / 4-6-4 (Amex, Diners).
        ["credit_card"] = (new Regex($@"\b(?:[0-9]{{13,19}}|[0-9]{{4}}(?:{Separator}[0-9]{{4}}){{3}}(?:{Separator}[0-9]{{3}})?|[0-9]{{4}}{Separator}[0-9]{{6}}{Separator}[0-9]{{4,5}})\b", Options), CardValid),
        ["iban"] = (new Regex(@"\b[A-Za-z]{2}[0-9]{2}(?:[ \-]?[A-Za-z0-9]{4}){2,7}(?:[ \-]?[A-Za-z0-9]{1,3})?\b", Options), static (_, m, _) => IbanValid(m.ValueSpan)),
        ["us_ssn"] = (new Regex($@"\b[0-9]{{3}}{Separator}?[0-9]{{2}}{Separator}?[0-9]{{4}}\b", Options), SsnAccepted),
        ["email"] = (new Regex(@"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", Options), null),
        ["phone"] = (new Regex(@"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){2,4}\b", Options), PhoneValid),
    };

    /// <summary>Whether <paramref name="name"/> is a built-in detector.</summary>
    public static bool Exists(string name) => Definitions.ContainsKey(name);

    /// <summary>The built-in detector <paramref name="name"/> with a replacement (default <c>[REDACTED:name]</c>).</summary>
    public static RedactionPattern Create(string name, string? replacement)
    {
        var (regex, accept) = Definitions[name];
        return new RedactionPattern(name, regex, accept, replacement ?? $"[REDACTED:{name}]");
    }

    /// <summary>Compiles a custom pattern; fails for constructs the non-backtracking engine refuses.</summary>
    public static bool TryCreatePattern(string pattern, string? replacement, out RedactionPattern result, out string error)
    {
        result = null!;
        if (pattern.Length == 0)
        {
            error = "is an empty pattern";
            return false;
        }

        try
        {
            var regex = new Regex(pattern, Options, TimeSpan.FromMilliseconds(100));
            result = new RedactionPattern("pattern", regex, null, replacement ?? "[REDACTED]");
            error = "";
            return true;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            error = "is not a valid non-backtracking regular expression (no backreferences, lookarounds or atomic groups): " + e.Message;
            return false;
        }
    }

    /// <summary>Luhn checksum over the digits of a 13–19 digit card number (separators ignored).</summary>
    public static bool LuhnValid(ReadOnlySpan<char> text)
    {
        int sum = 0, digits = 0;
        for (var i = text.Length - 1; i >= 0; i--)
        {
            var c = text[i];
            if (!char.IsAsciiDigit(c))
            {
                continue;
            }

            var d = c - '0';
            if (digits++ % 2 == 1)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
        }

        return digits is >= 13 and <= 19 && sum % 10 == 0;
    }

    /// <summary>ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 == 1 (case-insensitive).</summary>
    public static bool IbanValid(ReadOnlySpan<char> text)
    {
        Span<char> compact = stackalloc char[64];
        var n = 0;
        foreach (var c in text)
        {
            if (c is not (' ' or '-'))
            {
                if (n == compact.Length)
                {
                    return false;
                }

                compact[n++] = char.ToUpperInvariant(c);
            }
        }

        if (n is < 15 or > 34 || !char.IsAsciiLetterUpper(compact[0]) || !char.IsAsciiLetterUpper(compact[1]))
        {
            return false;
        }

        var remainder = 0;
        for (var i = 0; i < n; i++)
        {
            var c = compact[(i + 4) % n];
            remainder = char.IsAsciiDigit(c) ? ((remainder * 10) + (c - '0')) % 97 : ((remainder * 100) + (c - 'A' + 10)) % 97;
        }

        return remainder == 1;
    }

    /// <summary>SSA rules over the nine digits (separators ignored): area not 000, 666 or 9xx; group not 00; serial not 0000.</summary>
    public static bool SsnValid(ReadOnlySpan<char> text)
    {
        Span<char> d = stackalloc char[9];
        var n = 0;
        foreach (var c in text)
        {
            if (char.IsAsciiDigit(c))
            {
                if (n == 9)
                {
                    return false;
                }

                d[n++] = c;
            }
        }

        return n == 9 && d[..3] is not "000" and not "666" && d[0] != '9' && d.Slice(3, 2) is not "00" && d.Slice(5, 4) is not "0000";
    }

    /// <summary>
    /// Whether <paramref name="key"/> or the words just before <paramref name="index"/> in <paramref name="text"/> say
    /// this is about a social security number: "ssn", "social security", "ss#", "soc sec". Keys are split into words
    /// (camelCase, snake_case, kebab-case), so <c>customerSsn</c> counts and <c>businessName</c> does not.
    /// </summary>
    public static bool InSsnContext(string? key, string text, int index)
    {
        if (key is not null && SsnWords(Words(TextFold.Fold(key).Text)))
        {
            return true;
        }

        var start = Math.Max(0, index - 40);
        return SsnWords(Words(text[start..index])) || text.AsSpan(start, index - start).Contains("ss#", StringComparison.OrdinalIgnoreCase);
    }

    private static bool SsnWords(List<string> words)
    {
        for (var i = 0; i < words.Count; i++)
        {
            if (words[i] is "ssn" or "ssns"
                || (i + 1 < words.Count && ((words[i] == "social" && words[i + 1] == "security") || (words[i] == "soc" && words[i + 1] == "sec"))))
            {
                return true;
            }
        }

        return false;
    }

    private static List<string> Words(string text)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var boundary = !char.IsAsciiLetter(c) || (char.IsAsciiLetterUpper(c) && i > 0 && char.IsAsciiLetterLower(text[i - 1]));
            if (boundary && current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }

            if (char.IsAsciiLetter(c))
            {
                current.Append(char.ToLowerInvariant(c));
            }
        }

        if (current.Length > 0)
        {
            words.Add(current.ToString());
        }

        return words;
    }

    private static bool CardValid(string text, Match match, string? key)
    {
        // Issuer ranges begin with 2-6 (Mastercard 2/5, Amex and Diners 3, Visa 4, Discover and UnionPay 6): a 13-digit
        // millisecond timestamp (1...) or an id starting 0, 7-9 is not taken for a card.
        var value = match.ValueSpan;
        return value[0] is >= '2' and <= '6' && ConsistentSeparators(value) && LuhnValid(value);
    }

    private static bool SsnAccepted(string text, Match match, string? key)
    {
        var value = match.ValueSpan;
        if (!SsnValid(value) || !ConsistentSeparators(value))
        {
            return false;
        }

        // Nine bare digits are an SSN only where the data says so; with separators the shape says it.
        var separated = value.Length > 9;
        return separated ? value.Length == 11 : InSsnContext(key, text, match.Index);
    }

    // Either no separators, or every separator is the same character (4111.1111.1111.1111, not 2024-01.15).
    private static bool ConsistentSeparators(ReadOnlySpan<char> value)
    {
        var separator = '\0';
        foreach (var c in value)
        {
            if (char.IsAsciiDigit(c))
            {
                continue;
            }

            if (separator != '\0' && c != separator)
            {
                return false;
            }

            separator = c;
        }

        return true;
    }

    private static bool PhoneValid(string input, Match match, string? key)
    {
        // Not glued to a preceding word or digit, 10–15 digits (E.164), and written like a phone number:
        // a leading '+' or separators. A bare run of digits is an id or a timestamp far more often.
        if (match.Index > 0 && char.IsLetterOrDigit(input[match.Index - 1]))
        {
            return false;
        }

        var value = match.ValueSpan;
        var digits = 0;
        var separated = false;
        foreach (var c in value)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else
            {
                separated = true;
            }
        }

        return digits is >= 10 and <= 15 && separated;
    }
}
