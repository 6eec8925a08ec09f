using System.Globalization;
using System.Text;

namespace Aegis.Policy.Conditions;

/// <summary>A syntax or type error in a CEL expression, with its 0-based position.</summary>
public sealed class CelCompileException(string message, int position) : Exception(message)
{
    public int Position { get; } = position;
}

internal enum CelTokenKind { Int, UInt, Double, String, Ident, Punct, End }

internal readonly record struct CelToken(CelTokenKind Kind, string Text, object? Value, int Position);

/// <summary>Splits a CEL expression into tokens (cel-spec lexical grammar; bytes literals are not supported).</summary>
internal static class CelLexer
{
    private static readonly string[] Punctuation = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}"];

    public static List<CelToken> Tokenize(string text)
    {
        var tokens = new List<CelToken>();
        var i = 0;
        while (true)
        {
            while (i < text.Length && (char.IsWhiteSpace(text[i]) || (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '/')))
            {
                if (text[i] == '/')
                {
                    while (i < text.Length && text[i] != '\n')
                    {
                        i++;
                    }
                }
                else
                {
                    i++;
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
            else if (c is 'r' or 'R' && i + 1 < text.Length && text[i + 1] is '"' or '\'')
            {
                i++;
                tokens.Add(new CelToken(CelTokenKind.String, text[start..], ReadString(text, ref i, raw: true), start));
            }
            else if (c is 'b' or 'B' && i + 1 < text.Length && text[i + 1] is '"' or '\'')
            {
                throw new CelCompileException("bytes literals are not supported", start);
            }
            else if (c is '"' or '\'')
            {
                tokens.Add(new CelToken(CelTokenKind.String, "string", ReadString(text, ref i, raw: false), start));
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
                    ?? throw new CelCompileException($"unexpected character '{c}'", i);
                i += punct.Length;
                tokens.Add(new CelToken(CelTokenKind.Punct, punct, null, start));
            }
        }
    }

    private static bool AfterOperand(List<CelToken> tokens) =>
        tokens.Count > 0 && (tokens[^1].Kind is CelTokenKind.Ident or CelTokenKind.Int or CelTokenKind.UInt or CelTokenKind.Double or CelTokenKind.String
            || tokens[^1].Text is ")" or "]" or "}");

    private static CelToken ReadNumber(string text, ref int i)
    {
        var start = i;
        if (text[i] == '0' && i + 1 < text.Length && text[i + 1] is 'x' or 'X')
        {
            i += 2;
            while (i < text.Length && char.IsAsciiHexDigit(text[i]))
            {
                i++;
            }

            var hex = text[(start + 2)..i];
            return Integer(text, ref i, start, hex, NumberStyles.AllowHexSpecifier);
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
            return new CelToken(CelTokenKind.Double, text[start..i], double.Parse(text.AsSpan(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture), start);
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

        // The minus sign is a separate token; -9223372036854775808 is folded by the parser.
        return ulong.TryParse(digits, style, CultureInfo.InvariantCulture, out var v) && v <= (ulong)long.MaxValue + 1
            ? new CelToken(CelTokenKind.Int, text[start..i], v, start)
            : throw new CelCompileException($"int literal out of range: {text[start..i]}", start);
    }

    private static string ReadString(string text, ref int i, bool raw)
    {
        var quote = text[i];
        var triple = i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote;
        var start = i;
        i += triple ? 3 : 1;
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= text.Length || (!triple && text[i] is '\n' or '\r'))
            {
                throw new CelCompileException("unterminated string literal", start);
            }

            if (text[i] == quote && (!triple || (i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote)))
            {
                i += triple ? 3 : 1;
                return sb.ToString();
            }

            if (text[i] == '\\' && !raw)
            {
                i++;
                sb.Append(ReadEscape(text, ref i));
                continue;
            }

            sb.Append(text[i++]);
        }
    }

    private static string ReadEscape(string text, ref int i)
    {
        if (i >= text.Length)
        {
            throw new CelCompileException("unterminated escape sequence", i);
        }

        var c = text[i++];
        switch (c)
        {
            case 'a': return "\a";
            case 'b': return "\b";
            case 'f': return "\f";
            case 'n': return "\n";
            case 'r': return "\r";
            case 't': return "\t";
            case 'v': return "\v";
            case '\\' or '\'' or '"' or '`' or '?': return c.ToString();
            case 'x' or 'X': return CodePoint(text, ref i, 2, NumberStyles.AllowHexSpecifier);
            case 'u': return CodePoint(text, ref i, 4, NumberStyles.AllowHexSpecifier);
            case 'U': return CodePoint(text, ref i, 8, NumberStyles.AllowHexSpecifier);
            case >= '0' and <= '3':
                i--;
                if (i + 3 > text.Length || text.AsSpan(i, 3).ContainsAnyExceptInRange('0', '7'))
                {
                    throw new CelCompileException("invalid octal escape", i);
                }

                var value = ((text[i] - '0') * 64) + ((text[i + 1] - '0') * 8) + (text[i + 2] - '0');
                i += 3;
                return ((char)value).ToString();
            default:
                throw new CelCompileException($"invalid escape sequence \\{c}", i - 1);
        }
    }

    private static string CodePoint(string text, ref int i, int digits, NumberStyles style)
    {
        if (i + digits > text.Length || !int.TryParse(text.AsSpan(i, digits), style, CultureInfo.InvariantCulture, out var cp)
            || cp > 0x10FFFF || (cp is >= 0xD800 and <= 0xDFFF))
        {
            throw new CelCompileException("invalid unicode escape", i);
        }

        i += digits;
        return char.ConvertFromUtf32(cp);
    }
}
