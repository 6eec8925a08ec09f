using Aegis.Policy.Conditions.Checking;
using Aegis.Policy.Conditions.Regex;
using Aegis.Policy.Conditions.Runtime;
using Aegis.Policy.Conditions.Syntax;

namespace Aegis.Policy.Conditions.Planning;

/// <summary>
/// Turns a checked expression into plan nodes, binding each call to its overloads once. Calls whose arguments are
/// all literals are evaluated now when that succeeds (the same value every time); when it fails the call stays, so
/// the error happens only if evaluation reaches it (<c>false &amp;&amp; 1/0 == 1</c> is false, as cel-spec says).
/// Regular-expression literals are compiled here, once.
/// </summary>
internal sealed class CelPlanner
{
    private static readonly CelOverload IndexOverload = new()
    {
        Id = "index",
        Function = CelOperators.Index,
        Parameters = [CelType.Dyn, CelType.Dyn],
        Result = CelType.Dyn,
        Binary = CelAccess.Index,
    };

    private static readonly CelOverload InOverload = new()
    {
        Id = "in",
        Function = CelOperators.In,
        Parameters = [CelType.Dyn, CelType.Dyn],
        Result = CelType.Bool,
        Binary = CelAccess.In,
    };

    private readonly CelCheckedExpr _checked;
    private readonly CelSource _source;
    private int _depth;

    private CelPlanner(CelCheckedExpr checkedExpr, CelSource source)
    {
        _checked = checkedExpr;
        _source = source;
    }

    public static CelPlan Plan(CelCheckedExpr checkedExpr, CelSource source) => new CelPlanner(checkedExpr, source).Visit(checkedExpr.Root);

    private string At(CelExpr e) => _source.Location(e.Offset);

    private CelPlan Visit(CelExpr e) => e switch
    {
        CelConstExpr c => new ConstPlan(c.Value is bool b ? CelValue.Bool(b) : c.Value),
        CelIdentExpr i => _checked.References[i.Id] is { IsLocal: true } local ? new LocalPlan(local.Index) : new VariablePlan(_checked.References[i.Id].Index, At(i)),
        CelSelectExpr s => new SelectPlan(Visit(s.Operand), s.Field, s.TestOnly, At(s)),
        CelCallExpr c => Call(c),
        CelListExpr l => List(l),
        CelMapExpr m => Map(m),
        CelComprehensionExpr c => Comprehension(c),
        _ => throw new CelCompileException("unsupported expression", e.Offset),
    };

    private CelPlan Call(CelCallExpr e)
    {
        switch (e.Function)
        {
            case CelOperators.LogicalAnd or CelOperators.LogicalOr:
                return new LogicalPlan(e.Function == CelOperators.LogicalAnd, Visit(e.Args[0]), Visit(e.Args[1]), At(e));
            case CelOperators.Conditional:
                return new ConditionalPlan(Visit(e.Args[0]), Visit(e.Args[1]), Visit(e.Args[2]), At(e));
            case CelOperators.Equal or CelOperators.NotEqual:
                return new EqualsPlan(Visit(e.Args[0]), Visit(e.Args[1]), negate: e.Function == CelOperators.NotEqual);
            case CelOperators.Less or CelOperators.LessEquals or CelOperators.Greater or CelOperators.GreaterEquals:
                var op = e.Function switch
                {
                    CelOperators.Less => CompareOp.Less,
                    CelOperators.LessEquals => CompareOp.LessEquals,
                    CelOperators.Greater => CompareOp.Greater,
                    _ => CompareOp.GreaterEquals,
                };
                return new ComparePlan(op, e.Function, Visit(e.Args[0]), Visit(e.Args[1]), At(e));
            case CelOperators.In when e.Args[1] is CelListExpr list && list.Elements.All(x => x is CelConstExpr):
                return new InConstantsPlan(Visit(e.Args[0]), [.. list.Elements.Select(x => ((ConstPlan)Visit(x)).Value)]);
            case CelOperators.In:
                return Fold(new CallPlan(e.Function, [InOverload], proven: true, [Visit(e.Args[0]), Visit(e.Args[1])], At(e)));
            case CelOperators.Index:
                return Fold(new CallPlan(e.Function, [IndexOverload], proven: true, [Visit(e.Args[0]), Visit(e.Args[1])], At(e)));
        }

        var argExprs = e.Target is null ? e.Args.ToList() : [e.Target, .. e.Args];
        var args = argExprs.Select(Visit).ToArray();
        if (e.Function == "matches" && argExprs.Count == 2 && args[1] is ConstPlan { Value: string pattern })
        {
            return Re2Regex.TryCompile(pattern, out var regex, out var error)
                ? new MatchesPlan(args[0], regex!, At(e))
                : throw new CelCompileException($"invalid regular expression '{pattern}': {error}", argExprs[1].Offset);
        }

        var overloads = _checked.Overloads[e.Id];
        var proven = overloads.Length == 1 && argExprs.Select((a, i) => overloads[0].Kinds[i] is null || _checked.Types[a.Id].Kind != CelTypeKind.Dyn).All(x => x);
        return Fold(new CallPlan(e.Function, overloads, proven, args, At(e)));
    }

    // A call on literals is computed now when it succeeds; a failure stays for evaluation to meet (or not).
    private static CelPlan Fold(CallPlan call)
    {
        if (!call.Args.All(a => a is ConstPlan))
        {
            return call;
        }

        var value = call.Eval(EmptyScope.Instance, null);
        return value is CelError ? call : new ConstPlan(value);
    }

    private CelPlan List(CelListExpr e)
    {
        var items = e.Elements.Select(Visit).ToArray();
        return items.All(i => i is ConstPlan) ? new ConstPlan(items.Select(i => ((ConstPlan)i).Value).ToArray()) : new ListPlan(items);
    }

    private CelPlan Map(CelMapExpr e)
    {
        var plan = new MapPlan([.. e.Entries.Select(x => Visit(x.Key))], [.. e.Entries.Select(x => Visit(x.Value))], At(e));
        if (e.Entries.All(x => x.Key is CelConstExpr && x.Value is CelConstExpr) && plan.Eval(EmptyScope.Instance, null) is { } value and not CelError)
        {
            return new ConstPlan(value);
        }

        return plan;
    }

    private ComprehensionPlan Comprehension(CelComprehensionExpr e)
    {
        var range = Visit(e.Range);
        var slot = _depth++;
        var predicate = e.Predicate is { } p ? Visit(p) : null;
        var transform = e.Transform is { } t ? Visit(t) : null;
        _depth--;
        return new ComprehensionPlan
        {
            Kind = e.Kind,
            Range = range,
            Slot = slot,
            Predicate = predicate,
            Transform = transform,
            Function = e.Kind switch
            {
                ComprehensionKind.All => "all",
                ComprehensionKind.Exists => "exists",
                ComprehensionKind.ExistsOne => "exists_one",
                ComprehensionKind.Map => "map",
                _ => "filter",
            },
            Location = At(e),
        };
    }

    /// <summary>A scope with no variables, for evaluating literal-only calls while planning.</summary>
    private sealed class EmptyScope : CelScope
    {
        public static readonly EmptyScope Instance = new();

        public override object? Variable(int index) => new CelError("no variables while planning");
    }
}
