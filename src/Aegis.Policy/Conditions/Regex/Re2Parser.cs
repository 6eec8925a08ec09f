using System.Text;

namespace Aegis.Policy.Conditions.Regex;

/// <summary>A node of a parsed RE2 expression. Captures are dropped: CEL's <c>matches</c> only asks whether there is a match.</summary>
internal abstract record ReNode;

/// <summary>One code point from a set.</summary>
internal sealed record ReChars(CodePointSet Set) : ReNode;

/// <summary>The empty string.</summary>
internal sealed record ReEmpty : ReNode
{
    public static readonly ReEmpty Instance = new();
}

/// <summary>A zero-width assertion.</summary>
internal sealed record ReAssert(ReAssertion Kind) : ReNode;

internal sealed record ReConcat(List<ReNode> Items) : ReNode;

internal sealed record ReAlternate(List<ReNode> Items) : ReNode;

/// <summary><c>x{Min,Max}</c>; Max -1 is unbounded.</summary>
internal sealed record ReRepeat(ReNode Item, int Min, int Max) : ReNode;

internal enum ReAssertion
{
    BeginText,
    EndText,
    BeginLine,
    EndLine,
    WordBoundary,
    NotWordBoundary,
}

/// <summary>A pattern that RE2 refuses, with the reason.</summary>
internal sealed class Re2SyntaxException(string message) : Exception(message);

/// <summary>
/// Parses RE2 syntax (github.com/google/re2/wiki/Syntax) over code points. Everything RE2 marks NOT SUPPORTED is an
/// error (backreferences, lookarounds, possessive and atomic forms, \Z, \C, conditionals, recursion), and so is every
/// escape RE2 does not define. Perl classes \d \s \w and \b are ASCII, as in RE2.
/// </summary>
internal sealed class Re2Parser
{
    private const int MaxRepeat = 1000;
    private const int MaxDepth = 200;

    private static readonly CodePointSet Digit = CodePointSet.Range('0', '9');
    private static readonly CodePointSet Space = CodePointSet.FromRanges([('\t', '\n'), ('\f', '\r'), (' ', ' ')]);
    private static readonly CodePointSet Word = CodePointSet.FromRanges([('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')]);
    private static readonly CodePointSet NotNewline = CodePointSet.Of('\n').Negate();

    private static readonly Dictionary<string, CodePointSet> AsciiClasses = new(StringComparer.Ordinal)
    {
        ["alnum"] = CodePointSet.FromRanges([('0', '9'), ('A', 'Z'), ('a', 'z')]),
        ["alpha"] = CodePointSet.FromRanges([('A', 'Z'), ('a', 'z')]),
        ["ascii"] = CodePointSet.Range(0, 0x7F),
        ["blank"] = CodePointSet.FromRanges([('\t', '\t'), (' ', ' ')]),
        ["cntrl"] = CodePointSet.FromRanges([(0, 0x1F), (0x7F, 0x7F)]),
        ["digit"] = Digit,
        ["graph"] = CodePointSet.Range('!', '~'),
        ["lower"] = CodePointSet.Range('a', 'z'),
        ["print"] = CodePointSet.Range(' ', '~'),
        ["punct"] = CodePointSet.FromRanges([('!', '/'), (':', '@'), ('[', '`'), ('{', '~')]),
        ["space"] = CodePointSet.FromRanges([('\t', '\r'), (' ', ' ')]),
        ["upper"] = CodePointSet.Range('A', 'Z'),
        ["word"] = Word,
        ["xdigit"] = CodePointSet.FromRanges([('0', '9'), ('A', 'F'), ('a', 'f')]),
    };

    private readonly int[] _text;
    private readonly HashSet<string> _groupNames = new(StringComparer.Ordinal);
    private int _pos;
    private int _depth;

    private Re2Parser(string pattern)
    {
        var runes = new List<int>(pattern.Length);
        foreach (var rune in pattern.EnumerateRunes())
        {
            runes.Add(rune.Value);
        }

        _text = [.. runes];
    }

    [Flags]
    private enum Flags
    {
        None = 0,
        FoldCase = 1,
        MultiLine = 2,
        DotNewline = 4,
        Ungreedy = 8,
    }

    /// <summary>Parses <paramref name="pattern"/>; throws <see cref="Re2SyntaxException"/> for what RE2 rejects.</summary>
    public static ReNode Parse(string pattern)
    {
        var parser = new Re2Parser(pattern);
        var flags = Flags.None;
        var node = parser.Alternation(ref flags);
        if (parser._pos < parser._text.Length)
        {
            // Only an unmatched ')' stops the top-level alternation early.
            throw new Re2SyntaxException("unexpected ): unmatched closing parenthesis");
        }

        return node;
    }

    private bool AtEnd => _pos >= _text.Length;

    private int Peek => _text[_pos];

    private bool LookingAt(string s)
    {
        if (_pos + s.Length > _text.Length)
        {
            return false;
        }

        for (var i = 0; i < s.Length; i++)
        {
            if (_text[_pos + i] != s[i])
            {
                return false;
            }
        }

        return true;
    }

    private ReNode Alternation(ref Flags flags)
    {
        if (++_depth > MaxDepth)
        {
            throw new Re2SyntaxException("expression nests too deeply");
        }

        var items = new List<ReNode> { Concatenation(ref flags) };
        while (!AtEnd && Peek == '|')
        {
            _pos++;
            items.Add(Concatenation(ref flags));
        }

        _depth--;
        return items.Count == 1 ? items[0] : new ReAlternate(items);
    }

    private ReNode Concatenation(ref Flags flags)
    {
        var items = new List<ReNode>();
        while (!AtEnd && Peek != '|' && Peek != ')')
        {
            // A flag group such as (?i) changes the flags for the rest of the enclosing group.
            if (LookingAt("(?") && FlagGroup(ref flags))
            {
                continue;
            }

            var atom = Atom(flags);
            items.Add(Repetitions(atom));
        }

        return items.Count switch
        {
            0 => ReEmpty.Instance,
            1 => items[0],
            _ => new ReConcat(items),
        };
    }

    private ReNode Repetitions(ReNode atom)
    {
        var repeated = false;
        while (!AtEnd)
        {
            int min, max;
            var c = Peek;
            var start = _pos;
            if (c is '*' or '+' or '?')
            {
                _pos++;
                (min, max) = c switch { '*' => (0, -1), '+' => (1, -1), _ => (0, 1) };
            }
            else if (c == '{' && TryRepeatCount(out min, out max))
            {
                if (min > MaxRepeat || max > MaxRepeat || (max >= 0 && min > max))
                {
                    throw new Re2SyntaxException($"bad repetition operator: {Slice(start, _pos)} (counts are at most {MaxRepeat})");
                }
            }
            else
            {
                return atom;
            }

            if (repeated)
            {
                // x** and x*+ (possessive) are refused by RE2; one trailing ? makes a repetition lazy.
                throw new Re2SyntaxException($"bad repetition operator: {Slice(start - 1, _pos)}");
            }

            if (!AtEnd && Peek == '?')
            {
                _pos++;
            }

            repeated = true;
            atom = new ReRepeat(atom, min, max);
        }

        return atom;
    }

    // {n}, {n,}, {n,m}; anything else is a literal '{' (as in RE2).
    private bool TryRepeatCount(out int min, out int max)
    {
        min = max = 0;
        var save = _pos;
        _pos++;
        if (!ReadInt(out min))
        {
            _pos = save;
            return false;
        }

        max = min;
        if (!AtEnd && Peek == ',')
        {
            _pos++;
            if (!AtEnd && Peek == '}')
            {
                max = -1;
            }
            else if (!ReadInt(out max))
            {
                _pos = save;
                return false;
            }
        }

        if (AtEnd || Peek != '}')
        {
            _pos = save;
            return false;
        }

        _pos++;
        return true;
    }

    private bool ReadInt(out int value)
    {
        value = 0;
        var start = _pos;
        while (!AtEnd && Peek is >= '0' and <= '9')
        {
            // Saturate: a count this large is refused anyway.
            value = Math.Min((value * 10) + (Peek - '0'), 100_000);
            _pos++;
        }

        return _pos > start;
    }

    private ReNode Atom(Flags flags)
    {
        var c = Peek;
        switch (c)
        {
            case '(':
                return Group(flags);
            case '[':
                return Class(flags);
            case '.':
                _pos++;
                return new ReChars((flags & Flags.DotNewline) != 0 ? CodePointSet.All : NotNewline);
            case '^':
                _pos++;
                return new ReAssert((flags & Flags.MultiLine) != 0 ? ReAssertion.BeginLine : ReAssertion.BeginText);
            case '$':
                _pos++;
                return new ReAssert((flags & Flags.MultiLine) != 0 ? ReAssertion.EndLine : ReAssertion.EndText);
            case '*' or '+' or '?':
                throw new Re2SyntaxException($"missing argument to repetition operator: {(char)c}");
            case '{':
                var save = _pos;
                if (TryRepeatCount(out _, out _))
                {
                    throw new Re2SyntaxException($"missing argument to repetition operator: {Slice(save, _pos)}");
                }

                _pos++;
                return Literal('{', flags);
            case '\\':
                return Escape(flags);
            default:
                _pos++;
                return Literal(c, flags);
        }
    }

    private static ReChars Literal(int c, Flags flags) =>
        new((flags & Flags.FoldCase) != 0 ? CodePointSet.Of(c).CaseFolded() : CodePointSet.Of(c));

    /// <summary>(?flags) alone: applies to the rest of the current group. Returns false for any other group.</summary>
    private bool FlagGroup(ref Flags flags)
    {
        var save = _pos;
        _pos += 2;
        var parsed = ParseFlags(flags, out var terminator);
        if (terminator == ')')
        {
            _pos++;
            flags = parsed;
            return true;
        }

        _pos = save;
        return false;
    }

    // Reads [imsU]* [-[imsU]*] up to ':' or ')'; leaves the position on the terminator. Terminator -1: not a flag group.
    private Flags ParseFlags(Flags flags, out int terminator)
    {
        var start = _pos;
        var negated = false;
        var sawFlag = false;
        var sawFlagAfterMinus = false;
        while (!AtEnd)
        {
            var c = Peek;
            switch (c)
            {
                case 'i' or 'm' or 's' or 'U':
                    var f = c switch { 'i' => Flags.FoldCase, 'm' => Flags.MultiLine, 's' => Flags.DotNewline, _ => Flags.Ungreedy };
                    flags = negated ? flags & ~f : flags | f;
                    sawFlag = true;
                    sawFlagAfterMinus |= negated;
                    _pos++;
                    continue;
                case '-':
                    if (negated)
                    {
                        throw new Re2SyntaxException($"invalid or unsupported Perl syntax: (?{Slice(start, _pos + 1)}");
                    }

                    negated = true;
                    _pos++;
                    continue;
                case ':' or ')':
                    if ((negated && !sawFlagAfterMinus) || (!sawFlag && c == ')'))
                    {
                        throw new Re2SyntaxException($"invalid or unsupported Perl syntax: (?{Slice(start, _pos + 1)}");
                    }

                    terminator = c;
                    return flags;
                default:
                    terminator = -1;
                    return flags;
            }
        }

        terminator = -1;
        return flags;
    }

    private ReNode Group(Flags flags)
    {
        var open = _pos;
        _pos++;
        if (!AtEnd && Peek == '?')
        {
            _pos++;
            if (LookingAt("P<") || (LookingAt("<") && !LookingAt("<=") && !LookingAt("<!")))
            {
                _pos += Peek == 'P' ? 2 : 1;
                var nameStart = _pos;
                while (!AtEnd && Peek != '>')
                {
                    var n = Peek;
                    if (!(n == '_' || (n < 128 && char.IsAsciiLetterOrDigit((char)n))))
                    {
                        throw new Re2SyntaxException($"invalid named capture group: {Slice(open, _pos + 1)}");
                    }

                    _pos++;
                }

                if (AtEnd || _pos == nameStart)
                {
                    throw new Re2SyntaxException($"invalid named capture group: {Slice(open, _pos)}");
                }

                var name = Slice(nameStart, _pos);
                if (!_groupNames.Add(name))
                {
                    throw new Re2SyntaxException($"duplicate capture group name: {name}");
                }

                _pos++;
                return GroupBody(flags, open);
            }

            var parsed = ParseFlags(flags, out var terminator);
            if (terminator == ':')
            {
                _pos++;
                return GroupBody(parsed, open);
            }

            // (?=, (?!, (?<=, (?<!, (?>, (?#, (?|, (?P=name), (?P>name), (?(cond)...), (?R), (?1): none exist in RE2.
            throw new Re2SyntaxException($"invalid or unsupported Perl syntax: {Slice(open, Math.Min(_pos + 1, _text.Length))}");
        }

        return GroupBody(flags, open);
    }

    private ReNode GroupBody(Flags flags, int open)
    {
        var inner = Alternation(ref flags);
        if (AtEnd || Peek != ')')
        {
            throw new Re2SyntaxException($"missing closing ): {Slice(open, _text.Length)}");
        }

        _pos++;
        return inner;
    }

    private ReNode Escape(Flags flags)
    {
        var start = _pos;
        _pos++;
        if (AtEnd)
        {
            throw new Re2SyntaxException("trailing backslash at end of expression");
        }

        var c = Peek;
        switch (c)
        {
            case 'A':
                _pos++;
                return new ReAssert(ReAssertion.BeginText);
            case 'z':
                _pos++;
                return new ReAssert(ReAssertion.EndText);
            case 'b':
                _pos++;
                return new ReAssert(ReAssertion.WordBoundary);
            case 'B':
                _pos++;
                return new ReAssert(ReAssertion.NotWordBoundary);
            case 'Q':
                _pos++;
                var literal = new List<ReNode>();
                while (!AtEnd && !LookingAt("\\E"))
                {
                    literal.Add(Literal(Peek, flags));
                    _pos++;
                }

                if (!AtEnd)
                {
                    _pos += 2;
                }

                return literal.Count == 1 ? literal[0] : literal.Count == 0 ? ReEmpty.Instance : new ReConcat(literal);
        }

        _pos = start;
        var set = ClassEscape(flags, out var single);
        return single >= 0 ? Literal(single, flags) : new ReChars(set!);
    }

    /// <summary>An escape that stands for a set (\d, \p{Greek}) or one code point (\n, \x41, \*); position on the backslash.</summary>
    private CodePointSet? ClassEscape(Flags flags, out int single)
    {
        var start = _pos;
        _pos++;
        if (AtEnd)
        {
            throw new Re2SyntaxException("trailing backslash at end of expression");
        }

        var c = Peek;
        _pos++;
        single = -1;
        switch (c)
        {
            case 'd': return Digit;
            case 'D': return Digit.Negate();
            case 's': return Space;
            case 'S': return Space.Negate();
            case 'w': return Word;
            case 'W': return Word.Negate();
            case 'p' or 'P': return UnicodeClass(c == 'P', flags, start);
            case 'a': single = 7; return null;
            case 'f': single = '\f'; return null;
            case 't': single = '\t'; return null;
            case 'n': single = '\n'; return null;
            case 'r': single = '\r'; return null;
            case 'v': single = '\v'; return null;
            case >= '1' and <= '7' when AtEnd || Peek is < '0' or > '7':
                throw new Re2SyntaxException($"invalid escape sequence: \\{(char)c} (backreferences are not supported)");
            case >= '0' and <= '7':
                var value = c - '0';
                for (var i = 0; i < 2 && !AtEnd && Peek is >= '0' and <= '7'; i++)
                {
                    value = (value * 8) + (Peek - '0');
                    _pos++;
                }

                single = value;
                return null;
            case 'x':
                single = HexEscape(start);
                return null;
        }

        if (c < 128 && !char.IsAsciiLetterOrDigit((char)c))
        {
            single = c;
            return null;
        }

        throw new Re2SyntaxException($"invalid escape sequence: {Slice(start, _pos)}");
    }

    private int HexEscape(int start)
    {
        int value = 0, digits = 0;
        if (!AtEnd && Peek == '{')
        {
            _pos++;
            while (!AtEnd && Peek != '}')
            {
                if (!IsHex(Peek) || ++digits > 8)
                {
                    throw new Re2SyntaxException($"invalid escape sequence: {Slice(start, _pos + 1)}");
                }

                value = (value * 16) + HexValue(Peek);
                _pos++;
            }

            if (AtEnd || digits == 0 || value > CodePointSet.MaxCodePoint)
            {
                throw new Re2SyntaxException($"invalid escape sequence: {Slice(start, _pos)}");
            }

            _pos++;
            return value;
        }

        for (var i = 0; i < 2; i++)
        {
            if (AtEnd || !IsHex(Peek))
            {
                throw new Re2SyntaxException($"invalid escape sequence: {Slice(start, _pos)}");
            }

            value = (value * 16) + HexValue(Peek);
            _pos++;
        }

        return value;
    }

    private static bool IsHex(int c) => c < 128 && char.IsAsciiHexDigit((char)c);

    private static int HexValue(int c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private CodePointSet UnicodeClass(bool negated, Flags flags, int start)
    {
        if (AtEnd)
        {
            throw new Re2SyntaxException($"invalid character class range: {Slice(start, _pos)}");
        }

        string name;
        if (Peek == '{')
        {
            var close = _pos;
            while (close < _text.Length && _text[close] != '}')
            {
                close++;
            }

            if (close >= _text.Length)
            {
                throw new Re2SyntaxException($"invalid character class range: {Slice(start, _text.Length)}");
            }

            name = Slice(_pos + 1, close);
            _pos = close + 1;
        }
        else
        {
            name = char.ConvertFromUtf32(Peek);
            _pos++;
        }

        if (name.StartsWith('^'))
        {
            negated = !negated;
            name = name[1..];
        }

        if (!UnicodeTables.TryGetClass(name, out var set))
        {
            throw new Re2SyntaxException($"invalid character class range: {Slice(start, _pos)}");
        }

        if ((flags & Flags.FoldCase) != 0)
        {
            set = set.CaseFolded();
        }

        return negated ? set.Negate() : set;
    }

    private ReChars Class(Flags flags)
    {
        var open = _pos;
        _pos++;
        var negated = false;
        if (!AtEnd && Peek == '^')
        {
            negated = true;
            _pos++;
        }

        var ranges = new List<(int, int)>();
        var first = true;
        while (true)
        {
            if (AtEnd)
            {
                throw new Re2SyntaxException($"missing closing ]: {Slice(open, _text.Length)}");
            }

            var c = Peek;
            if (c == ']' && !first)
            {
                _pos++;
                break;
            }

            first = false;
            if (c == '[' && LookingAt("[:"))
            {
                var close = IndexOf(":]", _pos + 2);
                if (close > 0)
                {
                    var name = Slice(_pos + 2, close);
                    var neg = name.StartsWith('^');
                    if (!AsciiClasses.TryGetValue(neg ? name[1..] : name, out var ascii))
                    {
                        throw new Re2SyntaxException($"invalid character class range: {Slice(_pos, close + 2)}");
                    }

                    (neg ? ascii.Negate() : ascii).AddTo(ranges);
                    _pos = close + 2;
                    continue;
                }
            }

            var lo = ClassChar(flags, ranges);
            if (lo < 0)
            {
                continue;
            }

            var hi = lo;
            if (LookingAt("-") && _pos + 1 < _text.Length && _text[_pos + 1] != ']')
            {
                var dash = _pos;
                _pos++;
                hi = ClassChar(flags, null);
                if (hi < lo)
                {
                    throw new Re2SyntaxException($"invalid character class range: {Slice(dash - 1, _pos)}");
                }
            }

            ranges.Add((lo, hi));
        }

        var set = CodePointSet.FromRanges(ranges);
        if ((flags & Flags.FoldCase) != 0)
        {
            set = set.CaseFolded();
        }

        return new ReChars(negated ? set.Negate() : set);
    }

    // One class element: returns its code point, or -1 after adding a whole set (\d, \p{L}) to ranges.
    private int ClassChar(Flags flags, List<(int, int)>? ranges)
    {
        var start = _pos;
        if (Peek != '\\')
        {
            return _text[_pos++];
        }

        var set = ClassEscape(flags, out var single);
        if (single >= 0)
        {
            return single;
        }

        if (ranges is null)
        {
            throw new Re2SyntaxException($"invalid character class range: {Slice(start, _pos)}");
        }

        set!.AddTo(ranges);
        return -1;
    }

    private int IndexOf(string s, int from)
    {
        for (var i = from; i + s.Length <= _text.Length; i++)
        {
            var match = true;
            for (var j = 0; j < s.Length && match; j++)
            {
                match = _text[i + j] == s[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }

    private string Slice(int from, int to)
    {
        var sb = new StringBuilder();
        for (var i = Math.Max(0, from); i < Math.Min(to, _text.Length); i++)
        {
            sb.Append(char.ConvertFromUtf32(_text[i]));
        }

        return sb.ToString();
    }
}
