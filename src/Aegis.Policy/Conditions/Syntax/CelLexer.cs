using System.Globalization;
using System.Text;
using Aegis.Policy.Conditions.Runtime;

namespace Aegis.Policy.Conditions.Syntax;

/// <summary>A syntax or type error in a CEL expression, at an offset into its source.</summary>
internal sealed class CelCompileException(string message, int offset) : Exception(message)
{
    public int Offset { get; } = offset;
}

internal enum CelTokenKind
{
    Int,
    UInt,
    Double,
    String,
    Bytes,
    Ident,
    Punct,
    End,
}

/// <summary>One token; <see cref="Value"/> holds a literal's value (an Int holds its magnitude as a ulong).</summary>
internal readonly record struct CelToken(CelTokenKind Kind, string Text, object? Value, int Offset);

/// <summary>Splits a CEL expression into tokens following cel-spec's lexical grammar exactly.</summary>
internal static class CelLexer
{
    private static readonly string[] Punctuation = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}"];

    // WHITESPACE ::= [\t\n\f\r ]+ — nothing else (no vertical tab, no Unicode spaces).
    private static bool IsWhitespace(char c) => c is '\t' or '\n' or '\f' or '\r' or ' ';

    public static List<CelToken> Tokenize(string text)
    {
        var tokens = new List<CelToken>();
        var i = 0;
        while (true)
        {
            while (i < text.Length)
            {
                if (IsWhitespace(text[i]))
                {
                    i++;
                }
                else if (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '/')
                {
                    while (i < text.Length && text[i] != '\n')
                    {
                        i++;
                    }
                }
                else
                {
                    break;
                }
            }

            if (i >= text.Length)
            {
                tokens.Add(new CelToken(CelTokenKind.End, "", null, i));
                return tokens;
            }

            var c = text[i];
            var start = i;
            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1]) && !AfterOperand(tokens)))
            {
                tokens.Add(ReadNumber(text, ref i));
            }
            else if (StringPrefix(text, i, out var raw, out var bytes, out var quoteAt))
            {
                i = quoteAt;
                var value = ReadString(text, ref i, raw, bytes);
                tokens.Add(new CelToken(bytes ? CelTokenKind.Bytes : CelTokenKind.String, text[start..i], value, start));
            }
            else if (c == '_' || char.IsAsciiLetter(c))
            {
                while (i < text.Length && (text[i] == '_' || char.IsAsciiLetterOrDigit(text[i])))
                {
                    i++;
                }

                tokens.Add(new CelToken(CelTokenKind.Ident, text[start..i], null, start));
            }
            else
            {
                var punct = Punctuation.FirstOrDefault(p => string.CompareOrdinal(text, i, p, 0, p.Length) == 0)
                    ?? throw new CelCompileException(
                        char.IsWhiteSpace(c) ? $"unexpected whitespace character U+{(int)c:X4} (CEL whitespace is space, tab, CR, LF and form feed)" : $"unexpected character '{c}'",
                        i);
                i += punct.Length;
                tokens.Add(new CelToken(CelTokenKind.Punct, punct, null, start));
            }
        }
    }

    // [rR]? [bB]? in either order, then a quote.
    private static bool StringPrefix(string text, int i, out bool raw, out bool bytes, out int quoteAt)
    {
        raw = bytes = false;
        var j = i;
        for (var k = 0; k < 2 && j < text.Length; k++)
        {
            if (text[j] is 'r' or 'R' && !raw)
            {
                raw = true;
                j++;
            }
            else if (text[j] is 'b' or 'B' && !bytes)
            {
                bytes = true;
                j++;
            }
        }

        quoteAt = j;
        return j < text.Length && text[j] is '"' or '\'';
    }

    private static bool AfterOperand(List<CelToken> tokens) =>
        tokens.Count > 0 && (tokens[^1].Kind is not (CelTokenKind.Punct or CelTokenKind.End) || tokens[^1].Text is ")" or "]" or "}");

    private static CelToken ReadNumber(string text, ref int i)
    {
        var start = i;
        if (text[i] == '0' && i + 1 < text.Length && text[i + 1] is 'x' or 'X')
        {
            i += 2;
            var digitsStart = i;
            while (i < text.Length && char.IsAsciiHexDigit(text[i]))
            {
                i++;
            }

            if (i == digitsStart)
            {
                throw new CelCompileException("hexadecimal literal without digits", start);
            }

            return Integer(text, ref i, start, text[digitsStart..i], NumberStyles.AllowHexSpecifier);
        }

        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        var isDouble = false;
        if (i + 1 < text.Length && text[i] == '.' && char.IsAsciiDigit(text[i + 1]))
        {
            isDouble = true;
            i++;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            var save = i;
            i++;
            if (i < text.Length && text[i] is '+' or '-')
            {
                i++;
            }

            if (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                isDouble = true;
                while (i < text.Length && char.IsAsciiDigit(text[i]))
                {
                    i++;
                }
            }
            else
            {
                i = save;
            }
        }

        if (isDouble)
        {
            var d = double.Parse(text.AsSpan(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture);
            return new CelToken(CelTokenKind.Double, text[start..i], d, start);
        }

        return Integer(text, ref i, start, text[start..i], NumberStyles.None);
    }

    private static CelToken Integer(string text, ref int i, int start, string digits, NumberStyles style)
    {
        if (i < text.Length && text[i] is 'u' or 'U')
        {
            i++;
            return ulong.TryParse(digits, style, CultureInfo.InvariantCulture, out var u)
                ? new CelToken(CelTokenKind.UInt, text[start..i], u, start)
                : throw new CelCompileException($"uint literal out of range: {text[start..i]}", start);
        }

        // 2^63 is kept for the parser, which allows it only directly after a minus sign.
        return ulong.TryParse(digits, style, CultureInfo.InvariantCulture, out var v) && v <= (ulong)long.MaxValue + 1
            ? new CelToken(CelTokenKind.Int, text[start..i], v, start)
            : throw new CelCompileException($"int literal out of range: {text[start..i]}", start);
    }

    private static object ReadString(string text, ref int i, bool raw, bool bytes)
    {
        var quote = text[i];
        var triple = i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote;
        var start = i;
        i += triple ? 3 : 1;
        var chars = new StringBuilder();
        var octets = bytes ? new List<byte>() : null;
        while (true)
        {
            if (i >= text.Length || (!triple && text[i] is '\n' or '\r'))
            {
                throw new CelCompileException("unterminated string literal", start);
            }

            if (text[i] == quote && (!triple || (i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote)))
            {
                i += triple ? 3 : 1;
                return bytes ? new CelBytes([.. octets!]) : chars.ToString();
            }

            if (text[i] == '\\' && !raw)
            {
                i++;
                ReadEscape(text, ref i, chars, octets);
                continue;
            }

            if (octets is not null)
            {
                var width = char.IsHighSurrogate(text[i]) && i + 1 < text.Length ? 2 : 1;
                octets.AddRange(Encoding.UTF8.GetBytes(text.Substring(i, width)));
                i += width;
            }
            else
            {
                chars.Append(text[i++]);
            }
        }
    }

    private static void ReadEscape(string text, ref int i, StringBuilder chars, List<byte>? octets)
    {
        if (i >= text.Length)
        {
            throw new CelCompileException("unterminated escape sequence", i);
        }

        var at = i - 1;
        var c = text[i++];
        int value;
        switch (c)
        {
            case 'a': value = 7; break;
            case 'b': value = 8; break;
            case 'f': value = 12; break;
            case 'n': value = 10; break;
            case 'r': value = 13; break;
            case 't': value = 9; break;
            case 'v': value = 11; break;
            case '\\' or '\'' or '"' or '`' or '?': value = c; break;
            case 'x' or 'X':
                value = Hex(text, ref i, 2, at);
                if (octets is not null)
                {
                    octets.Add((byte)value);
                    return;
                }

                break;
            case 'u' or 'U' when octets is not null:
                throw new CelCompileException($"\\{c} escapes are not allowed in bytes literals", at);
            case 'u':
                value = Hex(text, ref i, 4, at);
                break;
            case 'U':
                value = Hex(text, ref i, 8, at);
                break;
            case >= '0' and <= '3':
                i--;
                if (i + 3 > text.Length || text.AsSpan(i, 3).ContainsAnyExceptInRange('0', '7'))
                {
                    throw new CelCompileException("invalid octal escape: expected three digits from \\000 to \\377", at);
                }

                value = ((text[i] - '0') * 64) + ((text[i + 1] - '0') * 8) + (text[i + 2] - '0');
                i += 3;
                if (octets is not null)
                {
                    octets.Add((byte)value);
                    return;
                }

                break;
            default:
                throw new CelCompileException($"invalid escape sequence \\{c}", at);
        }

        if (value is > 0x10FFFF or (>= 0xD800 and <= 0xDFFF))
        {
            throw new CelCompileException($"invalid Unicode code point in escape: U+{value:X}", at);
        }

        if (octets is not null)
        {
            octets.AddRange(Encoding.UTF8.GetBytes(char.ConvertFromUtf32(value)));
        }
        else
        {
            chars.Append(char.ConvertFromUtf32(value));
        }
    }

    private static int Hex(string text, ref int i, int digits, int at)
    {
        if (i + digits > text.Length || !long.TryParse(text.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            throw new CelCompileException($"invalid escape: expected {digits} hexadecimal digits", at);
        }

        i += digits;

        // Anything past U+10FFFF is refused by the caller; keep it out of int's sign bit.
        return (int)Math.Min(value, 0x110000);
    }
}
