namespace Aegis.Policy.Conditions;

/// <summary>
/// Recursive-descent parser for the CEL grammar (cel-spec), producing evaluator nodes directly. Identifiers are
/// resolved at compile time against the known variables and macro-bound locals, so an unknown name is a load
/// error, never a runtime surprise.
/// </summary>
internal sealed class CelParser
{
    private static readonly HashSet<string> Reserved = ["as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"];
    private static readonly HashSet<string> Macros = ["exists", "all", "exists_one", "map", "filter"];
    private const int MaxDepth = 64;

    private readonly List<CelToken> _tokens;
    private readonly IReadOnlyList<string> _variables;
    private readonly List<string> _locals = [];
    private int _pos;
    private int _depth;

    private CelParser(List<CelToken> tokens, IReadOnlyList<string> variables)
    {
        _tokens = tokens;
        _variables = variables;
    }

    /// <summary>Number of local slots (comprehension variables) the expression needs.</summary>
    public int LocalSlots { get; private set; }

    /// <summary>Parses <paramref name="text"/>; throws <see cref="CelCompileException"/> with the position of the problem.</summary>
    public static (CelNode Root, int LocalSlots) Parse(string text, IReadOnlyList<string> variables)
    {
        var parser = new CelParser(CelLexer.Tokenize(text), variables);
        var root = Unwrap(parser.Expression());
        if (parser.Peek.Kind != CelTokenKind.End)
        {
            throw new CelCompileException($"unexpected '{parser.Peek.Text}' after the end of the expression", parser.Peek.Position);
        }

        if (NeverBoolean(root) is { } kind)
        {
            throw new CelCompileException($"must evaluate to a boolean, but the expression is {kind}", 0);
        }

        return (root, parser.LocalSlots);
    }

    /// <summary>What the root is when its shape alone shows it cannot be a boolean (arithmetic, a literal, a list).</summary>
    private static string? NeverBoolean(CelNode root) => root switch
    {
        BinaryNode { Op: "+" or "-" or "*" or "/" or "%" } b => $"arithmetic ('{b.Op}')",
        ConstNode { Value: not bool } c => $"a {CelRuntime.TypeName(c.Value)} literal",
        ListNode or ConstListNode => "a list",
        MapNode => "a map",
        FunctionNode { Name: not ("matches" or "startsWith" or "endsWith" or "contains" or "bool") } f => $"a call to {f.Name}()",
        _ => null,
    };

    private CelToken Peek => _tokens[_pos];

    private bool Accept(string punct)
    {
        if (Peek.Kind == CelTokenKind.Punct && Peek.Text == punct)
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
            throw new CelCompileException(Peek.Kind == CelTokenKind.End ? $"expected '{punct}' but the expression ended" : $"expected '{punct}', found '{Peek.Text}'", Peek.Position);
        }
    }

    private CelNode Expression()
    {
        if (++_depth > MaxDepth)
        {
            throw new CelCompileException($"expression nests deeper than {MaxDepth} levels", Peek.Position);
        }

        var condition = Or();
        if (Accept("?"))
        {
            var whenTrue = Or();
            Expect(":");
            var whenFalse = Expression();
            condition = new ConditionalNode(Unwrap(condition), Unwrap(whenTrue), Unwrap(whenFalse));
        }

        _depth--;
        return condition;
    }

    private CelNode Or()
    {
        var left = And();
        while (Accept("||"))
        {
            left = new LogicalNode(isAnd: false, Unwrap(left), Unwrap(And()));
        }

        return left;
    }

    private CelNode And()
    {
        var left = Relation();
        while (Accept("&&"))
        {
            left = new LogicalNode(isAnd: true, Unwrap(left), Unwrap(Relation()));
        }

        return left;
    }

    private CelNode Relation()
    {
        var left = Addition();
        while (true)
        {
            string? op = Peek switch
            {
                { Kind: CelTokenKind.Punct, Text: "<" or "<=" or ">" or ">=" or "==" or "!=" } t => t.Text,
                { Kind: CelTokenKind.Ident, Text: "in" } => "in",
                _ => null,
            };
            if (op is null)
            {
                return left;
            }

            var position = Peek.Position;
            _pos++;
            var right = Addition();
            left = op == "in" && right is ConstListNode constants && left is not ConstNode
                ? new InConstantsNode(Unwrap(left), constants.Values)
                : Binary(op, left, right, position);
        }
    }

    private CelNode Addition()
    {
        var left = Multiplication();
        while (Peek is { Kind: CelTokenKind.Punct, Text: "+" or "-" } t)
        {
            _pos++;
            left = Binary(t.Text, left, Multiplication(), t.Position);
        }

        return left;
    }

    private CelNode Multiplication()
    {
        var left = Unary();
        while (Peek is { Kind: CelTokenKind.Punct, Text: "*" or "/" or "%" } t)
        {
            _pos++;
            left = Binary(t.Text, left, Unary(), t.Position);
        }

        return left;
    }

    private CelNode Unary()
    {
        if (Accept("!"))
        {
            return new NotNode(Unwrap(Unary()));
        }

        if (Peek is { Kind: CelTokenKind.Punct, Text: "-" })
        {
            _pos++;
            if (Peek is { Kind: CelTokenKind.Int } literal)
            {
                _pos++;
                var magnitude = (ulong)literal.Value!;
                return Member(new ConstNode(magnitude == (ulong)long.MaxValue + 1 ? long.MinValue : -(long)magnitude));
            }

            return new NegateNode(Unwrap(Unary()));
        }

        return Member(Primary());
    }

    private CelNode Member(CelNode node)
    {
        while (true)
        {
            if (Accept("."))
            {
                var name = Identifier();
                if (Accept("("))
                {
                    if (Macros.Contains(name) && Peek.Kind == CelTokenKind.Ident && _tokens[_pos + 1] is { Kind: CelTokenKind.Punct, Text: "," })
                    {
                        node = Comprehension(name, Unwrap(node));
                        continue;
                    }

                    node = Call(name, Unwrap(node));
                    continue;
                }

                node = new SelectNode(Unwrap(node), name);
            }
            else if (Accept("["))
            {
                var index = Expression();
                Expect("]");
                node = new IndexNode(Unwrap(node), Unwrap(index));
            }
            else
            {
                return node;
            }
        }
    }

    private ComprehensionNode Comprehension(string kind, CelNode range)
    {
        var variableToken = Peek;
        var variable = Identifier();
        if (_variables.Contains(variable) || _locals.Contains(variable))
        {
            throw new CelCompileException($"{kind}(): the loop variable '{variable}' hides another name", variableToken.Position);
        }

        Expect(",");
        _locals.Add(variable);
        var slot = _locals.Count - 1;
        LocalSlots = Math.Max(LocalSlots, _locals.Count);
        var body = Unwrap(Expression());
        CelNode? transform = null;
        if (kind == "map" && Accept(","))
        {
            // map(x, predicate, transform): filter then transform.
            transform = Unwrap(Expression());
        }

        Expect(")");
        _locals.RemoveAt(_locals.Count - 1);
        if (kind == "map" && transform is not null)
        {
            var filtered = new ComprehensionNode("filter", range, slot, body, null);
            return new ComprehensionNode("map", filtered, slot, transform, null);
        }

        return new ComprehensionNode(kind, range, slot, body, transform);
    }

    private CelNode Call(string name, CelNode? target)
    {
        var position = _tokens[_pos - 1].Position;
        var args = new List<CelNode>();
        if (!Accept(")"))
        {
            do
            {
                args.Add(Unwrap(Expression()));
            }
            while (Accept(","));
            Expect(")");
        }

        var node = CelFunctions.Create(name, target, args, position);
        if (node is FunctionNode { HasConstantArguments: true } call)
        {
            // Calls on literals (timestamp('...'), duration('1h')) run once, and a bad literal is a load error.
            var value = call.Eval(null!, null);
            return value is CelError error ? throw new CelCompileException($"{name}(): {error.Message}", position) : new ConstNode(value);
        }

        return node;
    }

    private CelNode Primary()
    {
        var token = Peek;
        _pos++;
        switch (token.Kind)
        {
            case CelTokenKind.Int:
                var value = (ulong)token.Value!;
                return value > long.MaxValue
                    ? throw new CelCompileException($"int literal out of range: {token.Text}", token.Position)
                    : new ConstNode((long)value);
            case CelTokenKind.UInt:
            case CelTokenKind.Double:
            case CelTokenKind.String:
                return new ConstNode(token.Value);
            case CelTokenKind.Ident:
                return Identifier(token);
            case CelTokenKind.Punct when token.Text == "(":
                var inner = Expression();
                Expect(")");
                return inner;
            case CelTokenKind.Punct when token.Text == "[":
                var items = new List<CelNode>();
                if (!Accept("]"))
                {
                    do
                    {
                        if (Peek is { Kind: CelTokenKind.Punct, Text: "]" })
                        {
                            break;
                        }

                        items.Add(Unwrap(Expression()));
                    }
                    while (Accept(","));
                    Expect("]");
                }

                return items.All(i => i is ConstNode)
                    ? new ConstListNode([.. items.Select(i => ((ConstNode)i).Value)])
                    : new ListNode([.. items]);
            case CelTokenKind.Punct when token.Text == "{":
                var keys = new List<CelNode>();
                var values = new List<CelNode>();
                if (!Accept("}"))
                {
                    do
                    {
                        if (Peek is { Kind: CelTokenKind.Punct, Text: "}" })
                        {
                            break;
                        }

                        keys.Add(Unwrap(Expression()));
                        Expect(":");
                        values.Add(Unwrap(Expression()));
                    }
                    while (Accept(","));
                    Expect("}");
                }

                return new MapNode([.. keys], [.. values]);
            case CelTokenKind.Punct when token.Text == ".":
                return Identifier(Peek.Kind == CelTokenKind.Ident ? _tokens[_pos++] : throw new CelCompileException("expected a name after '.'", Peek.Position));
            case CelTokenKind.End:
                throw new CelCompileException("the expression ended where a value was expected", token.Position);
            default:
                throw new CelCompileException($"unexpected '{token.Text}'", token.Position);
        }
    }

    private CelNode Identifier(CelToken token)
    {
        var name = token.Text;
        switch (name)
        {
            case "true":
                return new ConstNode(true);
            case "false":
                return new ConstNode(false);
            case "null":
                return new ConstNode(null);
        }

        if (Reserved.Contains(name) || name == "in")
        {
            throw new CelCompileException($"'{name}' is a reserved word", token.Position);
        }

        if (Accept("("))
        {
            if (name == "has")
            {
                var argument = Expression();
                Expect(")");
                return argument is SelectNode select
                    ? new HasNode(select.Target, select.Field)
                    : throw new CelCompileException("has() needs a field selection such as has(args.amount)", token.Position);
            }

            return Call(name, null);
        }

        var local = _locals.LastIndexOf(name);
        if (local >= 0)
        {
            return new LocalNode(local);
        }

        var index = IndexOf(_variables, name);
        return index >= 0
            ? new VariableNode(index)
            : throw new CelCompileException($"undeclared reference to '{name}'; available: {string.Join(", ", _variables)}", token.Position);
    }

    private string Identifier()
    {
        var token = Peek;
        if (token.Kind != CelTokenKind.Ident)
        {
            throw new CelCompileException($"expected a name, found '{token.Text}'", token.Position);
        }

        _pos++;
        return token.Text;
    }

    private static int IndexOf(IReadOnlyList<string> list, string value)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A binary operation; on two constants it is evaluated now, and an error (1 / 0) is a load error.</summary>
    private static CelNode Binary(string op, CelNode left, CelNode right, int position)
    {
        var node = new BinaryNode(op, Unwrap(left), Unwrap(right));
        if (Unwrap(left) is not ConstNode || Unwrap(right) is not ConstNode)
        {
            return node;
        }

        var value = node.Eval(null!, null);
        return value is CelError error ? throw new CelCompileException($"'{op}': {error.Message}", position) : new ConstNode(value);
    }

    // A constant list is kept as such while it may still be the right operand of 'in'; elsewhere it is a value.
    private static CelNode Unwrap(CelNode node) => node is ConstListNode list ? new ConstNode(list.Values.ToList()) : node;
}

/// <summary>A list literal of constants, before it is known whether it feeds an 'in'.</summary>
internal sealed class ConstListNode(object?[] values) : CelNode
{
    public object?[] Values { get; } = values;

    public override object? Eval(CelScope scope, object?[]? locals) => Values.ToList();
}
