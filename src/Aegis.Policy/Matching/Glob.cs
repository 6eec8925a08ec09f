namespace Aegis.Policy.Matching;

/// <summary>
/// A compiled glob: <c>*</c> any run of characters, <c>?</c> one character, <c>[a-z]</c> / <c>[!a-z]</c> a class,
/// <c>\</c> escapes. Common shapes (exact, prefix*, *suffix, *) match without a loop over tokens.
/// </summary>
public sealed class Glob
{
    private enum Shape { Exact, Prefix, Suffix, Any, General }

    private readonly Shape _shape;
    private readonly string _literal;
    private readonly Token[] _tokens;
    private readonly StringComparison _comparison;
    private readonly bool _ignoreCase;

    private Glob(string pattern, Shape shape, string literal, Token[] tokens, bool ignoreCase)
    {
        Pattern = pattern;
        _shape = shape;
        _literal = literal;
        _tokens = tokens;
        _ignoreCase = ignoreCase;
        _comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
    }

    /// <summary>The source pattern.</summary>
    public string Pattern { get; }

    /// <summary>Compiles a pattern, or returns the reason it is not a valid glob.</summary>
    public static bool TryCompile(string? pattern, bool ignoreCase, out Glob glob, out string error)
    {
        glob = null!;
        if (string.IsNullOrEmpty(pattern))
        {
            error = "is an empty pattern";
            return false;
        }

        var tokens = new List<Token>();
        var literal = new System.Text.StringBuilder();
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                error = $"contains whitespace or a control character at position {i + 1}";
                return false;
            }

            switch (c)
            {
                case '*':
                    FlushLiteral();
                    if (tokens.Count == 0 || tokens[^1].Kind != TokenKind.Star)
                    {
                        tokens.Add(new Token(TokenKind.Star));
                    }

                    break;
                case '?':
                    FlushLiteral();
                    tokens.Add(new Token(TokenKind.One));
                    break;
                case '\\':
                    if (i + 1 >= pattern.Length)
                    {
                        error = "ends with an escape character '\\'";
                        return false;
                    }

                    literal.Append(pattern[++i]);
                    break;
                case '[':
                    FlushLiteral();
                    var end = pattern.IndexOf(']', i + 1);
                    if (end == i + 1 || (end == i + 2 && pattern[i + 1] is '!' or '^'))
                    {
                        end = pattern.IndexOf(']', end + 1);
                    }

                    if (end < 0)
                    {
                        error = $"has an unclosed '[' at position {i + 1}";
                        return false;
                    }

                    if (!TryParseClass(pattern.AsSpan(i + 1, end - i - 1), ignoreCase, out var cls, out error))
                    {
                        error = $"has an invalid class at position {i + 1}: {error}";
                        return false;
                    }

                    tokens.Add(cls);
                    i = end;
                    break;
                case ']':
                    error = $"has an unmatched ']' at position {i + 1}";
                    return false;
                default:
                    literal.Append(c);
                    break;
            }
        }

        FlushLiteral();
        glob = Classify(pattern, tokens, ignoreCase);
        error = "";
        return true;

        void FlushLiteral()
        {
            if (literal.Length > 0)
            {
                tokens.Add(new Token(TokenKind.Literal, literal.ToString()));
                literal.Clear();
            }
        }
    }

    /// <summary>Compiles a pattern known to be valid (bundle data was validated when it was compiled).</summary>
    public static Glob Compile(string pattern, bool ignoreCase = false) =>
        TryCompile(pattern, ignoreCase, out var glob, out var error)
            ? glob
            : throw new FormatException($"glob \"{pattern}\" {error}");

    /// <summary>Whether <paramref name="value"/> matches the whole pattern.</summary>
    public bool IsMatch(string value) => _shape switch
    {
        Shape.Exact => string.Equals(value, _literal, _comparison),
        Shape.Prefix => value.StartsWith(_literal, _comparison),
        Shape.Suffix => value.EndsWith(_literal, _comparison),
        Shape.Any => true,
        _ => MatchGeneral(value),
    };

    private static Glob Classify(string pattern, List<Token> tokens, bool ignoreCase)
    {
        var arr = tokens.ToArray();
        return arr switch
        {
            [{ Kind: TokenKind.Literal } l] => new Glob(pattern, Shape.Exact, l.Text!, arr, ignoreCase),
            [{ Kind: TokenKind.Star }] => new Glob(pattern, Shape.Any, "", arr, ignoreCase),
            [{ Kind: TokenKind.Literal } l, { Kind: TokenKind.Star }] => new Glob(pattern, Shape.Prefix, l.Text!, arr, ignoreCase),
            [{ Kind: TokenKind.Star }, { Kind: TokenKind.Literal } l] => new Glob(pattern, Shape.Suffix, l.Text!, arr, ignoreCase),
            _ => new Glob(pattern, Shape.General, "", arr, ignoreCase),
        };
    }

    // Iterative matcher with single-star backtracking: linear in practice, never exponential.
    private bool MatchGeneral(string value)
    {
        int t = 0, v = 0, starT = -1, starV = -1;
        while (v < value.Length || t < _tokens.Length)
        {
            if (t < _tokens.Length)
            {
                var token = _tokens[t];
                switch (token.Kind)
                {
                    case TokenKind.Star:
                        starT = t++;
                        starV = v;
                        continue;
                    case TokenKind.Literal:
                        if (string.Compare(value, v, token.Text, 0, token.Text!.Length, _comparison) == 0 && v + token.Text.Length <= value.Length)
                        {
                            v += token.Text.Length;
                            t++;
                            continue;
                        }

                        break;
                    case TokenKind.One:
                        if (v < value.Length)
                        {
                            v++;
                            t++;
                            continue;
                        }

                        break;
                    case TokenKind.Class:
                        if (v < value.Length && token.ClassMatches(value[v], _ignoreCase))
                        {
                            v++;
                            t++;
                            continue;
                        }

                        break;
                }
            }

            if (starT >= 0 && starV < value.Length)
            {
                t = starT + 1;
                v = ++starV;
                continue;
            }

            return false;
        }

        return true;
    }

    private static bool TryParseClass(ReadOnlySpan<char> body, bool ignoreCase, out Token token, out string error)
    {
        token = default;
        var negate = body.Length > 0 && body[0] is '!' or '^';
        if (negate)
        {
            body = body[1..];
        }

        if (body.IsEmpty)
        {
            error = "the class is empty";
            return false;
        }

        var ranges = new List<(char From, char To)>();
        for (var i = 0; i < body.Length; i++)
        {
            var from = body[i];
            if (i + 2 < body.Length && body[i + 1] == '-')
            {
                var to = body[i + 2];
                if (to < from)
                {
                    error = $"the range {from}-{to} is reversed";
                    return false;
                }

                ranges.Add(ignoreCase ? (char.ToLowerInvariant(from), char.ToLowerInvariant(to)) : (from, to));
                i += 2;
            }
            else
            {
                var c = ignoreCase ? char.ToLowerInvariant(from) : from;
                ranges.Add((c, c));
            }
        }

        token = new Token(TokenKind.Class, null, [.. ranges], negate);
        error = "";
        return true;
    }

    private enum TokenKind { Literal, Star, One, Class }

    private readonly record struct Token(TokenKind Kind, string? Text = null, (char From, char To)[]? Ranges = null, bool Negate = false)
    {
        public bool ClassMatches(char c, bool ignoreCase)
        {
            if (ignoreCase)
            {
                c = char.ToLowerInvariant(c);
            }

            var hit = false;
            foreach (var (from, to) in Ranges!)
            {
                if (c >= from && c <= to)
                {
                    hit = true;
                    break;
                }
            }

            return hit != Negate;
        }
    }
}

/// <summary>A list of globs that matches when any of them does; empty or absent means "match everything".</summary>
public sealed class GlobSet
{
    private readonly Glob[] _globs;

    /// <summary>A set that matches every value.</summary>
    public static readonly GlobSet All = new([]);

    public GlobSet(Glob[] globs) => _globs = globs;

    /// <summary>Whether any glob matches (or the set is unrestricted).</summary>
    public bool IsMatch(string value)
    {
        if (_globs.Length == 0)
        {
            return true;
        }

        foreach (var glob in _globs)
        {
            if (glob.IsMatch(value))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Compiles patterns already validated at load time; null or empty gives <see cref="All"/>.</summary>
    public static GlobSet Of(IReadOnlyList<string>? patterns, bool ignoreCase = false) =>
        patterns is null || patterns.Count == 0
            ? All
            : new GlobSet([.. patterns.Select(p => Glob.Compile(p, ignoreCase))]);
}
