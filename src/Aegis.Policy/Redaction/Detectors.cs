using System.Text.RegularExpressions;

namespace Aegis.Policy.Redaction;

/// <summary>A compiled redaction: a regex, an optional check on each match, and the replacement text.</summary>
public sealed class RedactionPattern
{
    public RedactionPattern(string name, Regex regex, Func<string, Match, bool>? accept, string replacement)
    {
        Name = name;
        Regex = regex;
        Accept = accept;
        Replacement = replacement;
    }

    /// <summary>Detector name, or "pattern" for a custom regex.</summary>
    public string Name { get; }

    public Regex Regex { get; }

    /// <summary>Second check on a match (Luhn, mod-97, ...); null accepts every match.</summary>
    public Func<string, Match, bool>? Accept { get; }

    public string Replacement { get; }
}

/// <summary>The built-in detectors. Every regex is non-backtracking, so no input can make matching hang.</summary>
public static class Detectors
{
    /// <summary>Built-in detector names, in the order they are applied (most specific first).</summary>
    public static readonly string[] Names = ["credit_card", "iban", "us_ssn", "email", "phone"];

    private const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    private static readonly Dictionary<string, (Regex Regex, Func<string, Match, bool>? Accept)> Definitions = new(StringComparer.Ordinal)
    {
        ["credit_card"] = (new Regex(@"\b\d(?:[ -]?\d){12,18}\b", Options), static (_, m) => LuhnValid(m.ValueSpan)),
        ["iban"] = (new Regex(@"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b", Options), static (_, m) => IbanValid(m.ValueSpan)),
        ["us_ssn"] = (new Regex(@"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", Options), static (_, m) => SsnValid(m.ValueSpan)),
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
            if (c is ' ' or '-')
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

    /// <summary>ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 == 1.</summary>
    public static bool IbanValid(ReadOnlySpan<char> text)
    {
        Span<char> compact = stackalloc char[64];
        var n = 0;
        foreach (var c in text)
        {
            if (c != ' ')
            {
                if (n == compact.Length)
                {
                    return false;
                }

                compact[n++] = c;
            }
        }

        if (n is < 15 or > 34)
        {
            return false;
        }

        var remainder = 0;
        for (var i = 0; i < n; i++)
        {
            var c = compact[(i + 4) % n];
            if (char.IsAsciiDigit(c))
            {
                remainder = ((remainder * 10) + (c - '0')) % 97;
            }
            else
            {
                remainder = ((remainder * 100) + (c - 'A' + 10)) % 97;
            }
        }

        return remainder == 1;
    }

    /// <summary>SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000.</summary>
    public static bool SsnValid(ReadOnlySpan<char> text)
    {
        var area = text[..3];
        return area is not "000" and not "666" && area[0] != '9' && text.Slice(4, 2) is not "00" && text.Slice(7, 4) is not "0000";
    }

    private static bool PhoneValid(string input, Match match)
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
