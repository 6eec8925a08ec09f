using System.Globalization;
using System.Text;

namespace Aegis.Policy.Redaction;

/// <summary>
/// A string folded for detection, with the position in the original of every folded character, so a match found in
/// the folded text replaces exactly the characters it came from.
/// </summary>
public sealed class FoldedText
{
    private readonly int[]? _starts;
    private readonly int[]? _ends;

    internal FoldedText(string original, string text, int[]? starts, int[]? ends)
    {
        Original = original;
        Text = text;
        _starts = starts;
        _ends = ends;
    }

    public string Original { get; }

    /// <summary>What detectors see.</summary>
    public string Text { get; }

    /// <summary>The original span of folded characters [<paramref name="index"/>, <paramref name="index"/> + <paramref name="length"/>).</summary>
    public (int Start, int Length) Source(int index, int length)
    {
        if (_starts is null)
        {
            return (index, length);
        }

        var start = _starts[index];
        return (start, _ends![index + length - 1] - start);
    }
}

/// <summary>
/// Folds text so that detectors written for ASCII see through Unicode disguises, before any detector runs. It does
/// what NFKC does for the characters detectors look at (full-width forms, superscript and circled digits,
/// mathematical letters and digits, compatibility spaces, dashes and dots, the small commercial at), maps every
/// Unicode decimal digit to its ASCII digit (which NFKC does not), and drops invisible format characters (zero-width
/// spaces and joiners, soft hyphens). .NET's own NFKC is not used: with invariant globalization (how Aegis runs) it
/// leaves text unchanged. One pass, and no copy at all for plain ASCII.
/// </summary>
public static class TextFold
{
    /// <summary>Folds <paramref name="text"/>.</summary>
    public static FoldedText Fold(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Ascii.IsValid(text))
        {
            return new FoldedText(text, text, null, null);
        }

        var builder = new StringBuilder(text.Length);
        var starts = new List<int>(text.Length);
        var ends = new List<int>(text.Length);
        for (var i = 0; i < text.Length;)
        {
            var width = char.IsSurrogatePair(text, i) ? 2 : 1;
            if (Folded(text, i, width) is { } folded)
            {
                if (folded != '\0')
                {
                    builder.Append(folded);
                    starts.Add(i);
                    ends.Add(i + width);
                }
            }
            else
            {
                for (var k = 0; k < width; k++)
                {
                    builder.Append(text[i + k]);
                    starts.Add(i + k);
                    ends.Add(i + k + 1);
                }
            }

            i += width;
        }

        return new FoldedText(text, builder.ToString(), [.. starts], [.. ends]);
    }

    /// <summary>The ASCII character a code point folds to, '\0' to drop it, or null to keep it.</summary>
    private static char? Folded(string text, int index, int width)
    {
        var c = text[index];
        if (c < 0x80)
        {
            return null;
        }

        var category = CharUnicodeInfo.GetUnicodeCategory(text, index);
        if (category == UnicodeCategory.DecimalDigitNumber && CharUnicodeInfo.GetDecimalDigitValue(text, index) is >= 0 and <= 9 and var digit)
        {
            return (char)('0' + digit);
        }

        if (width == 2)
        {
            // Mathematical alphanumeric letters (U+1D400-U+1D6A3): 13 alphabets of A-Z then a-z; NFKC maps them to ASCII.
            var cp = char.ConvertToUtf32(text, index);
            if (cp is >= 0x1D400 and <= 0x1D6A3)
            {
                var offset = (cp - 0x1D400) % 52;
                return (char)(offset < 26 ? 'A' + offset : 'a' + offset - 26);
            }

            return null;
        }

        return c switch
        {
            >= '\uFF01' and <= '\uFF5E' => (char)(c - 0xFEE0), // full-width ASCII
            '\u2024' or '\uFE52' or '\u3002' or '\uFF61' => '.',
            '\uFE6B' => '@',
            '\u2212' or '\uFE63' => '-',
            _ when category == UnicodeCategory.Format => '\0',
            _ when category == UnicodeCategory.SpaceSeparator => ' ',
            _ when category == UnicodeCategory.DashPunctuation => '-',
            _ when category == UnicodeCategory.OtherNumber && CharUnicodeInfo.GetNumericValue(c) is var n && n is >= 0 and <= 9 && n == Math.Floor(n) => (char)('0' + (int)n),
            _ => null,
        };
    }
}
