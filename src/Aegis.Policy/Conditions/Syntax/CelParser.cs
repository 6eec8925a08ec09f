namespace Aegis.Policy.Conditions.Syntax;

/// <summary>
/// Recursive-descent parser for cel-spec's grammar (doc/langdef.md), producing an AST with node ids and offsets.
/// The macros has, all, exists, exists_one, map and filter are expanded here; nothing is evaluated.
/// </summary>
internal sealed class CelParser
{
    /// <summary>Deeper expressions are refused, so checking, planning and evaluation never exhaust a thread's stack.</summary>
    public const int MaxDepth = 100;

    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
    };

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal) { "true", "false", "null", "in" };

    private readonly List<CelToken> _tokens;
    private int _pos;
    private int _nextId = 1;
    private readonly Dictionary<int, int> _depths = [];
    private int _depth;

    private CelParser(List<CelToken> tokens) => _tokens = tokens;

    /// <summary>Parses <paramref name="text"/>; throws <see cref="CelCompileException"/> at the offending offset.</summary>
    public static CelExpr Parse(string text)
    {
        var parser = new CelParser(CelLexer.Tokenize(text));
        var root = parser.Expression();
        if (parser.Peek.Kind != CelTokenKind.End)
        {
            throw new CelCompileException($"unexpected '{parser.Peek.Text}' after the end of the expression", parser.Peek.Offset);
        }

        return root;
    }

    // Each node's depth from its children's, so a long chain (a && b && ... ) is refused without recursing over it.
    private T Track<T>(T e)
        where T : CelExpr
    {
        var depth = 1 + e switch
        {
            CelSelectExpr s => DepthOf(s.Operand),
            CelCallExpr c => Math.Max(c.Target is null ? 0 : DepthOf(c.Target), c.Args.Count == 0 ? 0 : c.Args.Max(DepthOf)),
            CelListExpr l => l.Elements.Count == 0 ? 0 : l.Elements.Max(DepthOf),
            CelMapExpr m => m.Entries.Count == 0 ? 0 : m.Entries.Max(x => Math.Max(DepthOf(x.Key), DepthOf(x.Value))),
            CelComprehensionExpr c => Math.Max(DepthOf(c.Range), Math.Max(c.Predicate is null ? 0 : DepthOf(c.Predicate), c.Transform is null ? 0 : DepthOf(c.Transform))),
            _ => 0,
        };
        if (depth > MaxDepth)
        {
            throw new CelCompileException($"expression nests deeper than {MaxDepth} levels", e.Offset);
        }

        _depths[e.Id] = depth;
        return e;
    }

    private int DepthOf(CelExpr e) => _depths.TryGetValue(e.Id, out var d) ? d : 1;

    private CelToken Peek => _tokens[_pos];

    private int NextId() => _nextId++;

    private bool IsPunct(string p) => Peek.Kind == CelTokenKind.Punct && Peek.Text == p;

    private bool Accept(string punct)
    {
        if (IsPunct(punct))
        {
            _pos++;
            return true;
        }

        return false;
    }

    private void Expect(string punct)
    {
        if (!Accept(punct))
        {
            throw new CelCompileException(
                Peek.Kind == CelTokenKind.End ? $"expected '{punct}' but the expression ended" : $"expected '{punct}', found '{Peek.Text}'",
                Peek.Offset);
        }
    }

    private void Enter()
    {
        // Parentheses, brackets and calls recurse here; the depth of the whole tree is checked after parsing.
        if (++_depth > MaxDepth)
        {
            throw new CelCompileException($"expression nests deeper than {MaxDepth} levels", Peek.Offset);
        }
    }

    private CelExpr Expression()
    {
        Enter();
        var condition = Or();
        if (IsPunct("?"))
        {
            var offset = Peek.Offset;
            _pos++;
            var whenTrue = Or();
            Expect(":");
            var whenFalse = Expression();
            condition = Track(new CelCallExpr(NextId(), offset, CelOperators.Conditional, null, [condition, whenTrue, whenFalse]));
        }

        _depth--;
        return condition;
    }

    private CelExpr Or()
    {
        var left = And();
        while (IsPunct("||"))
        {
            var offset = Peek.Offset;
            _pos++;
            left = Track(new CelCallExpr(NextId(), offset, CelOperators.LogicalOr, null, [left, And()]));
        }

        return left;
    }

    private CelExpr And()
    {
        var left = Relation();
        while (IsPunct("&&"))
        {
            var offset = Peek.Offset;
            _pos++;
            left = Track(new CelCallExpr(NextId(), offset, CelOperators.LogicalAnd, null, [left, Relation()]));
        }

        return left;
    }

    private CelExpr Relation()
    {
        var left = Addition();
        while (Peek is { Kind: CelTokenKind.Punct, Text: "<" or "<=" or ">" or ">=" or "==" or "!=" } or { Kind: CelTokenKind.Ident, Text: "in" })
        {
            var token = Peek;
            _pos++;
            left = Track(new CelCallExpr(NextId(), token.Offset, CelOperators.ForToken(token.Text), null, [left, Addition()]));
        }

        return left;
    }

    private CelExpr Addition()
    {
        var left = Multiplication();
        while (Peek is { Kind: CelTokenKind.Punct, Text: "+" or "-" } token)
        {
            _pos++;
            left = Track(new CelCallExpr(NextId(), token.Offset, CelOperators.ForToken(token.Text), null, [left, Multiplication()]));
        }

        return left;
    }

    private CelExpr Multiplication()
    {
        var left = Unary();
        while (Peek is { Kind: CelTokenKind.Punct, Text: "*" or "/" or "%" } token)
        {
            _pos++;
            left = Track(new CelCallExpr(NextId(), token.Offset, CelOperators.ForToken(token.Text), null, [left, Unary()]));
        }

        return left;
    }

    // Unary = Member | "!" {"!"} Member | "-" {"-"} Member: "!-x" and "-!x" are not CEL.
    private CelExpr Unary()
    {
        if (!IsPunct("!") && !IsPunct("-"))
        {
            return Member(Primary());
        }

        var op = Peek.Text;
        var offsets = new List<int>();
        while (IsPunct(op))
        {
            offsets.Add(Peek.Offset);
            _pos++;
        }

        if (IsPunct(op == "!" ? "-" : "!"))
        {
            throw new CelCompileException($"unexpected '{Peek.Text}' after '{op}': write {op}({Peek.Text}...) with parentheses", Peek.Offset);
        }

        CelExpr operand;
        if (op == "-" && Peek.Kind is CelTokenKind.Int or CelTokenKind.Double)
        {
            // The minus directly before a number is part of the literal (INT_LIT ::= -? DIGIT+), so
            // -9223372036854775808 is an int; further minuses negate it.
            var literal = Peek;
            _pos++;
            object value = literal.Kind == CelTokenKind.Double
                ? -(double)literal.Value!
                : (ulong)literal.Value! == (ulong)long.MaxValue + 1 ? (object)long.MinValue : -(long)(ulong)literal.Value!;
            operand = Member(new CelConstExpr(NextId(), offsets[^1], value));
            offsets.RemoveAt(offsets.Count - 1);
        }
        else
        {
            operand = Member(Primary());
        }

        for (var i = offsets.Count - 1; i >= 0; i--)
        {
            operand = Track(new CelCallExpr(NextId(), offsets[i], op == "!" ? CelOperators.LogicalNot : CelOperators.Negate, null, [operand]));
        }

        return operand;
    }

    private CelExpr Member(CelExpr operand)
    {
        while (true)
        {
            if (IsPunct("."))
            {
                _pos++;
                var name = Selector();
                if (IsPunct("("))
                {
                    _pos++;
                    var args = Arguments();
                    operand = MemberCall(name, operand, args, name.Offset);
                    continue;
                }

                operand = Track(new CelSelectExpr(NextId(), name.Offset, operand, name.Text, TestOnly: false));
            }
            else if (IsPunct("["))
            {
                var offset = Peek.Offset;
                _pos++;
                Enter();
                var index = Expression();
                _depth--;
                Expect("]");
                operand = Track(new CelCallExpr(NextId(), offset, CelOperators.Index, null, [operand, index]));
            }
            else if (IsPunct("{"))
            {
                throw new CelCompileException("message construction (Type{field: value}) is not supported: Aegis has no message types", Peek.Offset);
            }
            else
            {
                return operand;
            }
        }
    }

    private List<CelExpr> Arguments()
    {
        Enter();
        var args = new List<CelExpr>();
        if (!Accept(")"))
        {
            do
            {
                args.Add(Expression());
            }
            while (Accept(","));
            Expect(")");
        }

        _depth--;
        return args;
    }

    private CelExpr MemberCall(CelToken name, CelExpr target, List<CelExpr> args, int offset)
    {
        var kind = (name.Text, args.Count) switch
        {
            ("all", 2) => ComprehensionKind.All,
            ("exists", 2) => ComprehensionKind.Exists,
            ("exists_one", 2) => ComprehensionKind.ExistsOne,
            ("filter", 2) => ComprehensionKind.Filter,
            ("map", 2 or 3) => ComprehensionKind.Map,
            _ => (ComprehensionKind?)null,
        };
        if (kind is not { } k)
        {
            return Track(new CelCallExpr(NextId(), offset, name.Text, target, args));
        }

        if (args[0] is not CelIdentExpr { RootScope: false } variable)
        {
            throw new CelCompileException($"{name.Text}(): the first argument must be a simple name, such as {name.Text}(x, ...)", args[0].Offset);
        }

        var (predicate, transform) = k switch
        {
            ComprehensionKind.Map when args.Count == 3 => (args[1], args[2]),
            ComprehensionKind.Map => ((CelExpr?)null, args[1]),
            _ => (args[1], (CelExpr?)null),
        };
        return Track(new CelComprehensionExpr(NextId(), name.Offset, k, variable.Name, target, predicate, transform));
    }

    private CelExpr Primary()
    {
        var token = Peek;
        switch (token.Kind)
        {
            case CelTokenKind.Int:
                _pos++;
                return (ulong)token.Value! > long.MaxValue
                    ? throw new CelCompileException($"int literal out of range: {token.Text}", token.Offset)
                    : new CelConstExpr(NextId(), token.Offset, (long)(ulong)token.Value!);
            case CelTokenKind.UInt or CelTokenKind.Double or CelTokenKind.String or CelTokenKind.Bytes:
                _pos++;
                return new CelConstExpr(NextId(), token.Offset, token.Value);
            case CelTokenKind.Ident:
                _pos++;
                return Identifier(token, rootScope: false);
            case CelTokenKind.Punct when token.Text == ".":
                _pos++;
                if (Peek.Kind != CelTokenKind.Ident)
                {
                    throw new CelCompileException("expected a name after '.'", Peek.Offset);
                }

                var name = Peek;
                _pos++;
                return Identifier(name, rootScope: true);
            case CelTokenKind.Punct when token.Text == "(":
                _pos++;
                Enter();
                var inner = Expression();
                _depth--;
                Expect(")");
                return inner;
            case CelTokenKind.Punct when token.Text == "[":
                _pos++;
                return Track(new CelListExpr(NextId(), token.Offset, List("]", Expression)));
            case CelTokenKind.Punct when token.Text == "{":
                _pos++;
                return Track(new CelMapExpr(NextId(), token.Offset, List("}", MapEntry)));
            case CelTokenKind.End:
                throw new CelCompileException("the expression ended where a value was expected", token.Offset);
            default:
                throw new CelCompileException($"unexpected '{token.Text}'", token.Offset);
        }
    }

    // "[" [ExprList] [","] "]": items separated by commas, one trailing comma allowed (so "[,]" is the empty list).
    private List<T> List<T>(string close, Func<T> item)
    {
        Enter();
        var items = new List<T>();
        while (!IsPunct(close))
        {
            if (items.Count == 0 && IsPunct(","))
            {
                _pos++;
                break;
            }

            items.Add(item());
            if (!Accept(","))
            {
                break;
            }
        }

        Expect(close);
        _depth--;
        return items;
    }

    private CelMapEntry MapEntry()
    {
        var key = Expression();
        Expect(":");
        return new CelMapEntry(key, Expression());
    }

    private CelExpr Identifier(CelToken token, bool rootScope)
    {
        var name = token.Text;
        if (!rootScope)
        {
            switch (name)
            {
                case "true":
                    return new CelConstExpr(NextId(), token.Offset, true);
                case "false":
                    return new CelConstExpr(NextId(), token.Offset, false);
                case "null":
                    return new CelConstExpr(NextId(), token.Offset, null);
            }
        }

        if (Keywords.Contains(name) || Reserved.Contains(name))
        {
            throw new CelCompileException($"'{name}' is a reserved word and cannot be used as a name", token.Offset);
        }

        if (IsPunct("("))
        {
            var offset = token.Offset;
            _pos++;
            var args = Arguments();
            if (name == "has" && !rootScope)
            {
                return args is [CelSelectExpr select]
                    ? Track(select with { Id = NextId(), TestOnly = true })
                    : throw new CelCompileException("has() needs one field selection, such as has(args.amount)", token.Offset);
            }

            return Track(new CelCallExpr(NextId(), offset, name, null, args));
        }

        return new CelIdentExpr(NextId(), token.Offset, name, rootScope);
    }

    // SELECTOR ::= [_a-zA-Z][_a-zA-Z0-9]* - KEYWORD: reserved words such as 'if' are fine after a dot, true/false/null/in are not.
    private CelToken Selector()
    {
        var token = Peek;
        if (token.Kind != CelTokenKind.Ident)
        {
            throw new CelCompileException($"expected a field name after '.', found '{token.Text}'", token.Offset);
        }

        if (Keywords.Contains(token.Text))
        {
            throw new CelCompileException($"'{token.Text}' is a keyword and cannot be a field name; use ['{token.Text}']", token.Offset);
        }

        _pos++;
        return token;
    }
}
