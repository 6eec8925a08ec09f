using Aegis.Policy.Conditions.Checking;
using Aegis.Policy.Conditions.Regex;
using Aegis.Policy.Conditions.Runtime;

namespace Aegis.Policy.Conditions.Planning;

/// <summary>Per-evaluation state for comprehensions: the loop variables and the remaining iteration budget.</summary>
internal sealed class CelFrame(int slots, int budget)
{
    public object?[] Locals { get; } = new object?[slots];

    public int Budget { get; set; } = budget;
}

/// <summary>
/// A node of a planned expression. Operators and overloads are bound when the plan is built, so evaluation
/// dispatches on value kinds at most, never on names. Evaluation never throws: failures are <see cref="CelError"/>
/// values carrying the position of the node that raised them.
/// </summary>
internal abstract class CelPlan
{
    public abstract object? Eval(CelScope scope, CelFrame? frame);
}

internal sealed class ConstPlan(object? value) : CelPlan
{
    public object? Value { get; } = value;

    public override object? Eval(CelScope scope, CelFrame? frame) => Value;
}

internal sealed class VariablePlan(int index, string location) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var value = scope.Variable(index);
        return value is CelError e ? e.At(location) : value;
    }
}

internal sealed class LocalPlan(int slot) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame) => frame!.Locals[slot];
}

/// <summary><c>e.f</c>, or with <paramref name="testOnly"/> the expansion of <c>has(e.f)</c>.</summary>
internal sealed class SelectPlan(CelPlan operand, string field, bool testOnly, string location) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var target = operand.Eval(scope, frame);
        if (target is CelError)
        {
            return target;
        }

        var value = testOnly ? CelAccess.Has(target, field) : CelAccess.Select(target, field);
        return value is CelError e ? e.At(location) : value;
    }
}

/// <summary>&amp;&amp; and || with cel-spec's commutative error absorption: false &amp;&amp; error is false either way round.</summary>
internal sealed class LogicalPlan(bool isAnd, CelPlan left, CelPlan right, string location) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var decisive = !isAnd;
        var l = left.Eval(scope, frame);
        if (l is bool lb && lb == decisive)
        {
            return CelValue.Bool(decisive);
        }

        var r = right.Eval(scope, frame);
        if (r is bool rb)
        {
            if (rb == decisive)
            {
                return CelValue.Bool(decisive);
            }

            if (l is bool)
            {
                return CelValue.Bool(!decisive);
            }
        }

        if (l is CelError)
        {
            return l;
        }

        if (r is CelError)
        {
            return r;
        }

        return CelValue.NoOverload(isAnd ? "_&&_" : "_||_", l, r).At(location);
    }
}

internal sealed class ConditionalPlan(CelPlan condition, CelPlan whenTrue, CelPlan whenFalse, string location) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame) => condition.Eval(scope, frame) switch
    {
        true => whenTrue.Eval(scope, frame),
        false => whenFalse.Eval(scope, frame),
        CelError e => e,
        var v => CelValue.NoOverload("_?_:_", v).At(location),
    };
}

internal sealed class EqualsPlan(CelPlan left, CelPlan right, bool negate) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var l = left.Eval(scope, frame);
        if (l is CelError)
        {
            return l;
        }

        var r = right.Eval(scope, frame);
        return r is CelError ? r : CelValue.Bool(CelAccess.Equal(l, r) != negate);
    }
}

internal enum CompareOp
{
    Less,
    LessEquals,
    Greater,
    GreaterEquals,
}

internal sealed class ComparePlan(CompareOp op, string function, CelPlan left, CelPlan right, string location) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var l = left.Eval(scope, frame);
        if (l is CelError)
        {
            return l;
        }

        var r = right.Eval(scope, frame);
        if (r is CelError)
        {
            return r;
        }

        if (CelAccess.Compare(l, r) is not int c)
        {
            // NaN is unordered: every comparison with it is false. Anything else without an order is an error.
            return l is long or ulong or double && r is long or ulong or double ? CelValue.False : CelValue.NoOverload(function, l, r).At(location);
        }

        return CelValue.Bool(op switch
        {
            CompareOp.Less => c < 0,
            CompareOp.LessEquals => c <= 0,
            CompareOp.Greater => c > 0,
            _ => c >= 0,
        });
    }
}

/// <summary><c>x in [literals]</c>: the strings in a hash set and the other literals in an array, built once.</summary>
internal sealed class InConstantsPlan(CelPlan element, object?[] constants) : CelPlan
{
    private readonly HashSet<string> _strings = constants.OfType<string>().ToHashSet(StringComparer.Ordinal);
    private readonly object?[] _others = [.. constants.Where(c => c is not string)];

    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var value = element.Eval(scope, frame);
        if (value is CelError)
        {
            return value;
        }

        if (value is string s)
        {
            return CelValue.Bool(_strings.Contains(s));
        }

        foreach (var c in _others)
        {
            if (CelAccess.Equal(value, c))
            {
                return CelValue.True;
            }
        }

        return CelValue.False;
    }
}

/// <summary>
/// A call bound to its overloads. With one overload whose argument kinds the checker proved, it is called directly;
/// otherwise (dyn arguments) the first overload whose parameter kinds match the values is called.
/// </summary>
internal sealed class CallPlan(string function, CelOverload[] overloads, bool proven, CelPlan[] args, string location) : CelPlan
{
    public CelPlan[] Args { get; } = args;

    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var a = Args[0].Eval(scope, frame);
        if (a is CelError)
        {
            return a;
        }

        object? b = null;
        if (Args.Length > 1)
        {
            b = Args[1].Eval(scope, frame);
            if (b is CelError)
            {
                return b;
            }
        }

        var overload = proven ? overloads[0] : Resolve(a, b);
        if (overload is null)
        {
            return (Args.Length == 1 ? CelValue.NoOverload(function, a) : CelValue.NoOverload(function, a, b)).At(location);
        }

        var result = overload.Unary is { } unary ? unary(a) : overload.Binary!(a, b);
        return result is CelError e ? e.At(location) : result;
    }

    private CelOverload? Resolve(object? a, object? b)
    {
        var ka = CelValue.KindOf(a);
        var kb = Args.Length > 1 ? CelValue.KindOf(b) : CelKind.Null;
        foreach (var overload in overloads)
        {
            var kinds = overload.Kinds;
            if ((kinds[0] is null || kinds[0] == ka) && (kinds.Length == 1 || kinds[1] is null || kinds[1] == kb))
            {
                return overload;
            }
        }

        return null;
    }
}

/// <summary><c>text.matches('literal')</c>: the pattern compiled once when the condition is loaded.</summary>
internal sealed class MatchesPlan(CelPlan text, Re2Regex regex, string location) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame) => text.Eval(scope, frame) switch
    {
        string s => CelValue.Bool(regex.IsMatch(s)),
        CelError e => e,
        var v => CelValue.NoOverload("matches", v).At(location),
    };
}

internal sealed class ListPlan(CelPlan[] items) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var list = new object?[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            list[i] = items[i].Eval(scope, frame);
            if (list[i] is CelError)
            {
                return list[i];
            }
        }

        return list;
    }
}

internal sealed class MapPlan(CelPlan[] keys, CelPlan[] values, string location) : CelPlan
{
    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var k = new object?[keys.Length];
        var v = new object?[values.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            k[i] = keys[i].Eval(scope, frame);
            if (k[i] is CelError)
            {
                return k[i];
            }

            v[i] = values[i].Eval(scope, frame);
            if (v[i] is CelError)
            {
                return v[i];
            }
        }

        var map = CelMap.Create(k, v);
        return map is CelError e ? e.At(location) : map;
    }
}

/// <summary>The comprehension macros over a list's elements or a map's keys, with cel-spec's error rules.</summary>
internal sealed class ComprehensionPlan : CelPlan
{
    public required Syntax.ComprehensionKind Kind { get; init; }
    public required CelPlan Range { get; init; }
    public required int Slot { get; init; }
    public CelPlan? Predicate { get; init; }
    public CelPlan? Transform { get; init; }
    public required string Function { get; init; }
    public required string Location { get; init; }

    public override object? Eval(CelScope scope, CelFrame? frame)
    {
        var range = Range.Eval(scope, frame);
        if (range is CelError)
        {
            return range;
        }

        if (CelAccess.Iterate(range) is not { } items)
        {
            return CelValue.NoOverload(Function, range).At(Location);
        }

        var locals = frame!.Locals;
        CelError? absorbed = null;
        var count = 0;
        var results = Kind is Syntax.ComprehensionKind.Map or Syntax.ComprehensionKind.Filter ? new List<object?>() : null;
        foreach (var item in items)
        {
            if (--frame.Budget < 0)
            {
                return new CelError("evaluation cost limit exceeded: the comprehensions ran more iterations than allowed").At(Location);
            }

            if (item is CelError)
            {
                return item;
            }

            locals[Slot] = item;
            object? p = null;
            if (Predicate is not null)
            {
                p = Predicate.Eval(scope, frame);
                if (p is not bool)
                {
                    var error = p as CelError ?? CelValue.NoOverload(Function, p).At(Location);
                    if (Kind is Syntax.ComprehensionKind.All or Syntax.ComprehensionKind.Exists)
                    {
                        // all/exists combine with && / ||: an error counts only if no element decides.
                        absorbed ??= error;
                        continue;
                    }

                    return error;
                }
            }

            switch (Kind)
            {
                case Syntax.ComprehensionKind.Exists when (bool)p!:
                    return CelValue.True;
                case Syntax.ComprehensionKind.All when !(bool)p!:
                    return CelValue.False;
                case Syntax.ComprehensionKind.ExistsOne when (bool)p!:
                    count++;
                    break;
                case Syntax.ComprehensionKind.Filter when (bool)p!:
                    results!.Add(item);
                    break;
                case Syntax.ComprehensionKind.Map when p is null || (bool)p:
                    var value = Transform!.Eval(scope, frame);
                    if (value is CelError)
                    {
                        return value;
                    }

                    results!.Add(value);
                    break;
            }
        }

        if (absorbed is not null)
        {
            return absorbed;
        }

        return Kind switch
        {
            Syntax.ComprehensionKind.Exists => CelValue.False,
            Syntax.ComprehensionKind.All => CelValue.True,
            Syntax.ComprehensionKind.ExistsOne => CelValue.Bool(count == 1),
            _ => results!.ToArray(),
        };
    }
}
