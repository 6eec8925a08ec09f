using Aegis.Policy.Conditions.Syntax;

namespace Aegis.Policy.Conditions.Checking;

/// <summary>A declared variable: its index in the scope and its type.</summary>
internal sealed record CelVariable(string Name, int Index, CelType Type);

/// <summary>What an identifier refers to: a declared variable, or a comprehension variable in a local slot.</summary>
internal readonly record struct CelReference(bool IsLocal, int Index);

/// <summary>The checker's findings, keyed by node id, for the planner.</summary>
internal sealed class CelCheckedExpr
{
    public required CelExpr Root { get; init; }
    public required Dictionary<int, CelType> Types { get; init; }
    public required Dictionary<int, CelOverload[]> Overloads { get; init; }
    public required Dictionary<int, CelReference> References { get; init; }
    public required int LocalSlots { get; init; }
}

/// <summary>
/// cel-spec's gradual type checker over the declared variables: resolves names, selects the overloads a call can
/// use (dyn arguments may leave several, chosen at run time by kind), and refuses what can never type-check,
/// including a condition whose result cannot be a boolean.
/// </summary>
internal sealed class CelChecker
{
    private readonly Dictionary<string, CelVariable> _variables;
    private readonly List<(string Name, CelType Type)> _locals = [];
    private readonly Dictionary<int, CelType> _types = [];
    private readonly Dictionary<int, CelOverload[]> _overloads = [];
    private readonly Dictionary<int, CelReference> _references = [];
    private int _maxLocals;

    private CelChecker(IEnumerable<CelVariable> variables) => _variables = variables.ToDictionary(v => v.Name, StringComparer.Ordinal);

    /// <summary>Checks <paramref name="root"/>; throws <see cref="CelCompileException"/> for a type error.</summary>
    public static CelCheckedExpr Check(CelExpr root, IEnumerable<CelVariable> variables)
    {
        var checker = new CelChecker(variables);
        var type = checker.Visit(root);
        if (type.Kind is not (CelTypeKind.Bool or CelTypeKind.Dyn))
        {
            throw new CelCompileException($"a condition must evaluate to a boolean, but the expression is of type {type}", root.Offset);
        }

        return new CelCheckedExpr
        {
            Root = root,
            Types = checker._types,
            Overloads = checker._overloads,
            References = checker._references,
            LocalSlots = checker._maxLocals,
        };
    }

    private CelType Visit(CelExpr e)
    {
        var type = e switch
        {
            CelConstExpr c => ConstType(c.Value),
            CelIdentExpr i => Ident(i),
            CelSelectExpr s => Select(s),
            CelCallExpr c => Call(c),
            CelListExpr l => CelType.ListOf(Join(l.Elements.Select(Visit).ToList())),
            CelMapExpr m => Map(m),
            CelComprehensionExpr c => Comprehension(c),
            _ => throw new CelCompileException("unsupported expression", e.Offset),
        };
        _types[e.Id] = type;
        return type;
    }

    private static CelType ConstType(object? value) => value switch
    {
        null => CelType.Null,
        bool => CelType.Bool,
        long => CelType.Int,
        ulong => CelType.Uint,
        double => CelType.Double,
        string => CelType.String,
        _ => CelType.Bytes,
    };

    private CelType Ident(CelIdentExpr e)
    {
        if (!e.RootScope)
        {
            for (var i = _locals.Count - 1; i >= 0; i--)
            {
                if (_locals[i].Name == e.Name)
                {
                    _references[e.Id] = new CelReference(IsLocal: true, i);
                    return _locals[i].Type;
                }
            }
        }

        if (_variables.TryGetValue(e.Name, out var variable))
        {
            _references[e.Id] = new CelReference(IsLocal: false, variable.Index);
            return variable.Type;
        }

        throw new CelCompileException($"undeclared reference to '{e.Name}'; the variables are {string.Join(", ", _variables.Keys)}", e.Offset);
    }

    private CelType Select(CelSelectExpr e)
    {
        var operand = Visit(e.Operand);
        var fieldType = operand.Kind switch
        {
            CelTypeKind.Dyn => CelType.Dyn,
            CelTypeKind.Object => operand.Fields!.TryGetValue(e.Field, out var f)
                ? f
                : throw new CelCompileException($"undefined field '{e.Field}' of {operand.Name}; its fields are {string.Join(", ", operand.Fields!.Keys)}", e.Offset),
            CelTypeKind.Map when operand.Key!.Kind is CelTypeKind.String or CelTypeKind.Dyn => operand.Value!,
            _ => throw new CelCompileException($"type '{operand}' does not support field selection", e.Offset),
        };
        return e.TestOnly ? CelType.Bool : fieldType;
    }

    private CelType Map(CelMapExpr e)
    {
        var keys = new List<CelType>();
        var values = new List<CelType>();
        foreach (var entry in e.Entries)
        {
            var key = Visit(entry.Key);
            if (key.Kind is not (CelTypeKind.Int or CelTypeKind.Uint or CelTypeKind.Bool or CelTypeKind.String or CelTypeKind.Dyn))
            {
                throw new CelCompileException($"unsupported map key type: {key} (keys are int, uint, bool or string)", entry.Key.Offset);
            }

            keys.Add(key);
            values.Add(Visit(entry.Value));
        }

        return CelType.MapOf(Join(keys), Join(values));
    }

    // The type of a literal's elements: their common type, or dyn when they differ (cel-go's default).
    private static CelType Join(List<CelType> types) =>
        types.Count == 0 ? CelType.Dyn : types.All(t => t.Equals(types[0])) ? types[0] : CelType.Dyn;

    private CelType Comprehension(CelComprehensionExpr e)
    {
        var range = Visit(e.Range);
        var variable = range.Kind switch
        {
            CelTypeKind.List => range.Element!,
            CelTypeKind.Map => range.Key!,
            CelTypeKind.Object => CelType.String,
            CelTypeKind.Dyn => CelType.Dyn,
            _ => throw new CelCompileException($"expression of type '{range}' cannot be the range of a comprehension (it needs a list or a map)", e.Range.Offset),
        };

        _locals.Add((e.Variable, variable));
        _maxLocals = Math.Max(_maxLocals, _locals.Count);
        if (e.Predicate is { } predicate)
        {
            var type = Visit(predicate);
            if (type.Kind is not (CelTypeKind.Bool or CelTypeKind.Dyn))
            {
                throw new CelCompileException($"the predicate of {Name(e.Kind)}() must be a bool, got {type}", predicate.Offset);
            }
        }

        var transform = e.Transform is { } t ? Visit(t) : null;
        _locals.RemoveAt(_locals.Count - 1);
        return e.Kind switch
        {
            ComprehensionKind.Map => CelType.ListOf(transform!),
            ComprehensionKind.Filter => CelType.ListOf(variable),
            _ => CelType.Bool,
        };
    }

    private static string Name(ComprehensionKind kind) => kind switch
    {
        ComprehensionKind.All => "all",
        ComprehensionKind.Exists => "exists",
        ComprehensionKind.ExistsOne => "exists_one",
        ComprehensionKind.Map => "map",
        _ => "filter",
    };

    private CelType Call(CelCallExpr e)
    {
        switch (e.Function)
        {
            case CelOperators.LogicalAnd or CelOperators.LogicalOr:
                foreach (var arg in e.Args)
                {
                    var type = Visit(arg);
                    if (type.Kind is not (CelTypeKind.Bool or CelTypeKind.Dyn))
                    {
                        throw new CelCompileException($"found no matching overload for '{CelOperators.Display(e.Function)}' applied to a {type}", arg.Offset);
                    }
                }

                return CelType.Bool;
            case CelOperators.Conditional:
                var condition = Visit(e.Args[0]);
                if (condition.Kind is not (CelTypeKind.Bool or CelTypeKind.Dyn))
                {
                    throw new CelCompileException($"the condition of ?: must be a bool, got {condition}", e.Args[0].Offset);
                }

                var whenTrue = Visit(e.Args[1]);
                var whenFalse = Visit(e.Args[2]);
                if (whenTrue.Equals(whenFalse) || whenFalse.Kind == CelTypeKind.Dyn)
                {
                    return whenTrue;
                }

                return whenTrue.Kind == CelTypeKind.Dyn
                    ? whenFalse
                    : throw new CelCompileException($"the branches of ?: have different types: {whenTrue} and {whenFalse}", e.Offset);
        }

        var table = e.Target is null ? CelDeclarations.Global : CelDeclarations.Member;
        if (!table.TryGetValue(e.Function, out var overloads))
        {
            var other = e.Target is null ? CelDeclarations.Member : CelDeclarations.Global;
            throw new CelCompileException(
                other.ContainsKey(e.Function)
                    ? e.Target is null ? $"{e.Function}() is a method: call it as x.{e.Function}(...)" : $"{e.Function}() is a function: call it as {e.Function}(x)"
                    : $"undeclared reference to function '{e.Function}'",
                e.Offset);
        }

        var args = new List<CelType>(e.Args.Count + 1);
        if (e.Target is { } target)
        {
            args.Add(Visit(target));
        }

        foreach (var arg in e.Args)
        {
            args.Add(Visit(arg));
        }

        var matching = new List<CelOverload>();
        CelType? result = null;
        foreach (var overload in overloads)
        {
            if (overload.Parameters.Length != args.Count)
            {
                continue;
            }

            var bindings = new Dictionary<string, CelType>(StringComparer.Ordinal);
            var ok = true;
            for (var i = 0; i < args.Count && ok; i++)
            {
                ok = Assignable(overload.Parameters[i], args[i], bindings);
            }

            if (!ok)
            {
                continue;
            }

            matching.Add(overload);
            var r = Substitute(overload.Result, bindings);
            result = result is null || result.Equals(r) ? r : CelType.Dyn;
        }

        if (matching.Count == 0)
        {
            throw new CelCompileException(
                $"found no matching overload for '{CelOperators.Display(e.Function)}' applied to '({string.Join(", ", args)})'", e.Offset);
        }

        _overloads[e.Id] = [.. matching];
        return result!;
    }

    /// <summary>Whether a value of type <paramref name="arg"/> may be passed as <paramref name="parameter"/>.</summary>
    private static bool Assignable(CelType parameter, CelType arg, Dictionary<string, CelType> bindings)
    {
        if (parameter.Kind == CelTypeKind.TypeParam)
        {
            if (!bindings.TryGetValue(parameter.Name, out var bound))
            {
                bindings[parameter.Name] = arg;
                return true;
            }

            if (bound.Kind == CelTypeKind.Dyn)
            {
                bindings[parameter.Name] = arg;
                return true;
            }

            return Compatible(bound, arg);
        }

        if (parameter.Kind == CelTypeKind.Dyn || arg.Kind == CelTypeKind.Dyn)
        {
            return true;
        }

        return parameter.Kind switch
        {
            CelTypeKind.List => arg.Kind == CelTypeKind.List && Assignable(parameter.Element!, arg.Element!, bindings),
            CelTypeKind.Map => (arg.Kind == CelTypeKind.Map && Assignable(parameter.Key!, arg.Key!, bindings) && Assignable(parameter.Value!, arg.Value!, bindings))
                || (arg.Kind == CelTypeKind.Object && Assignable(parameter.Key!, CelType.String, bindings) && Assignable(parameter.Value!, CelType.Dyn, bindings)),
            _ => parameter.Equals(arg),
        };
    }

    // Structural agreement where dyn stands for anything.
    private static bool Compatible(CelType a, CelType b)
    {
        if (a.Kind == CelTypeKind.Dyn || b.Kind == CelTypeKind.Dyn)
        {
            return true;
        }

        if (a.Kind != b.Kind)
        {
            return (a.Kind, b.Kind) is (CelTypeKind.Object, CelTypeKind.Map) or (CelTypeKind.Map, CelTypeKind.Object);
        }

        return a.Kind switch
        {
            CelTypeKind.List => Compatible(a.Element!, b.Element!),
            CelTypeKind.Map => Compatible(a.Key!, b.Key!) && Compatible(a.Value!, b.Value!),
            _ => a.Equals(b),
        };
    }

    private static CelType Substitute(CelType type, Dictionary<string, CelType> bindings) => type.Kind switch
    {
        CelTypeKind.TypeParam => bindings.TryGetValue(type.Name, out var bound) ? bound : CelType.Dyn,
        CelTypeKind.List => CelType.ListOf(Substitute(type.Element!, bindings)),
        CelTypeKind.Map => CelType.MapOf(Substitute(type.Key!, bindings), Substitute(type.Value!, bindings)),
        _ => type,
    };
}
