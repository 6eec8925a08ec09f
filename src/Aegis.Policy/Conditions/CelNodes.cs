using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Aegis.Policy.Conditions;

/// <summary>A compiled CEL expression node. Evaluation never throws: failures are <see cref="CelError"/> values.</summary>
internal abstract class CelNode
{
    public abstract object? Eval(CelScope scope, object?[]? locals);
}

internal sealed class ConstNode(object? value) : CelNode
{
    public object? Value { get; } = value;

    public override object? Eval(CelScope scope, object?[]? locals) => Value;
}

internal sealed class VariableNode(int index) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals) => CelRuntime.Normalize(scope.Variable(index));
}

internal sealed class LocalNode(int slot) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals) => locals![slot];
}

internal sealed class SelectNode(CelNode target, string field) : CelNode
{
    public CelNode Target { get; } = target;
    public string Field { get; } = field;

    public override object? Eval(CelScope scope, object?[]? locals) => CelRuntime.Select(Target.Eval(scope, locals), Field);
}

internal sealed class HasNode(CelNode target, string field) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals) => CelRuntime.Has(target.Eval(scope, locals), field);
}

internal sealed class IndexNode(CelNode target, CelNode index) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals) => CelRuntime.Index(target.Eval(scope, locals), index.Eval(scope, locals));
}

internal sealed class NotNode(CelNode operand) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals) => operand.Eval(scope, locals) switch
    {
        bool b => !b,
        CelError e => e,
        var v => CelRuntime.NoOverload("!", v),
    };
}

internal sealed class NegateNode(CelNode operand) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals) => operand.Eval(scope, locals) switch
    {
        long l when l != long.MinValue => -l,
        long => new CelError("integer overflow"),
        double d => -d,
        TimeSpan t => -t,
        CelError e => e,
        var v => CelRuntime.NoOverload("-", v),
    };
}

/// <summary>Logical and/or with cel-spec's commutative error handling: false &amp;&amp; error is false either way round.</summary>
internal sealed class LogicalNode(bool isAnd, CelNode left, CelNode right) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals)
    {
        var decisive = !isAnd;
        var l = left.Eval(scope, locals);
        if (l is bool lb && lb == decisive)
        {
            return decisive;
        }

        var r = right.Eval(scope, locals);
        if (r is bool rb && rb == decisive)
        {
            return decisive;
        }

        if (l is CelError)
        {
            return l;
        }

        if (r is CelError)
        {
            return r;
        }

        return l is bool && r is bool ? !decisive : CelRuntime.NoOverload(isAnd ? "&&" : "||", l, r);
    }
}

internal sealed class ConditionalNode(CelNode condition, CelNode whenTrue, CelNode whenFalse) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals) => condition.Eval(scope, locals) switch
    {
        true => whenTrue.Eval(scope, locals),
        false => whenFalse.Eval(scope, locals),
        CelError e => e,
        var v => CelRuntime.NoOverload("_?_:_", v),
    };
}

internal sealed class BinaryNode(string op, CelNode left, CelNode right) : CelNode
{
    public string Op { get; } = op;

    public override object? Eval(CelScope scope, object?[]? locals)
    {
        var l = left.Eval(scope, locals);
        if (l is CelError)
        {
            return l;
        }

        var r = right.Eval(scope, locals);
        if (r is CelError)
        {
            return r;
        }

        switch (Op)
        {
            case "==":
                return CelRuntime.ValueEquals(l, r);
            case "!=":
                return !CelRuntime.ValueEquals(l, r);
            case "<" or "<=" or ">" or ">=":
                if (CelRuntime.Compare(l, r) is not int c)
                {
                    return CelRuntime.NoOverload(Op, l, r);
                }

                return Op switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 };
            case "+":
                return CelRuntime.Add(l, r);
            case "in":
                return CelRuntime.In(l, r);
            default:
                return CelRuntime.Arithmetic(Op, l, r);
        }
    }
}

/// <summary><c>x in [constant, ...]</c> with the constants in a set, built once at compile time.</summary>
internal sealed class InConstantsNode(CelNode element, object?[] constants) : CelNode
{
    private readonly HashSet<string>? _strings = constants.All(c => c is string) ? constants.Cast<string>().ToHashSet(StringComparer.Ordinal) : null;

    public override object? Eval(CelScope scope, object?[]? locals)
    {
        var value = element.Eval(scope, locals);
        if (value is CelError)
        {
            return value;
        }

        if (_strings is not null && value is string s)
        {
            return _strings.Contains(s);
        }

        foreach (var c in constants)
        {
            if (CelRuntime.ValueEquals(value, c))
            {
                return true;
            }
        }

        return false;
    }
}

internal sealed class ListNode(CelNode[] items) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals)
    {
        var list = new List<object?>(items.Length);
        foreach (var item in items)
        {
            var v = item.Eval(scope, locals);
            if (v is CelError)
            {
                return v;
            }

            list.Add(v);
        }

        return list;
    }
}

internal sealed class MapNode(CelNode[] keys, CelNode[] values) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals)
    {
        var map = new Dictionary<string, object?>(keys.Length, StringComparer.Ordinal);
        for (var i = 0; i < keys.Length; i++)
        {
            var k = keys[i].Eval(scope, locals);
            if (k is CelError)
            {
                return k;
            }

            if (k is not string key)
            {
                return new CelError($"map keys must be strings here, got {CelRuntime.TypeName(k)}");
            }

            var v = values[i].Eval(scope, locals);
            if (v is CelError)
            {
                return v;
            }

            if (!map.TryAdd(key, v))
            {
                return new CelError($"duplicate map key: {key}");
            }
        }

        return map;
    }
}

/// <summary>Functions and methods that take already-evaluated arguments.</summary>
internal sealed class FunctionNode(string name, CelNode[] args, Func<object?[], object?> function) : CelNode
{
    public string Name { get; } = name;

    /// <summary>True when every argument is a constant, so the call can be evaluated once at compile time.</summary>
    public bool HasConstantArguments => args.All(a => a is ConstNode);

    public override object? Eval(CelScope scope, object?[]? locals)
    {
        var values = new object?[args.Length];
        for (var i = 0; i < args.Length; i++)
        {
            values[i] = args[i].Eval(scope, locals);
            if (values[i] is CelError)
            {
                return values[i];
            }
        }

        return function(values);
    }
}

/// <summary>The comprehension macros: exists, all, exists_one, map, filter over lists (elements) and maps (keys).</summary>
internal sealed class ComprehensionNode(string kind, CelNode range, int slot, CelNode body, CelNode? transform) : CelNode
{
    public override object? Eval(CelScope scope, object?[]? locals)
    {
        var target = range.Eval(scope, locals);
        if (target is CelError)
        {
            return target;
        }

        IEnumerable<object?> items = target switch
        {
            JsonElement { ValueKind: JsonValueKind.Object } or IReadOnlyDictionary<string, object?> => CelRuntime.AsMap(target)!.Keys,
            _ when CelRuntime.AsList(target) is { } list => list,
            _ => [],
        };
        if (CelRuntime.AsList(target) is null && CelRuntime.AsMap(target) is null)
        {
            return CelRuntime.NoOverload(kind, target);
        }

        CelError? error = null;
        var count = 0;
        var results = kind is "map" or "filter" ? new List<object?>() : null;
        foreach (var item in items)
        {
            locals![slot] = item;
            var v = body.Eval(scope, locals);
            if (kind == "map")
            {
                if (v is CelError)
                {
                    return v;
                }

                results!.Add(v);
                continue;
            }

            if (v is CelError e)
            {
                // exists/all absorb errors when another element decides, as && and || do.
                error ??= e;
                continue;
            }

            if (v is not bool b)
            {
                return CelRuntime.NoOverload(kind, v);
            }

            switch (kind)
            {
                case "exists" when b:
                    return true;
                case "all" when !b:
                    return false;
                case "exists_one" when b:
                    count++;
                    break;
                case "filter" when b:
                    if (transform is null)
                    {
                        results!.Add(item);
                    }

                    break;
            }
        }

        if (error is not null)
        {
            return error;
        }

        return kind switch
        {
            "exists" => false,
            "all" => true,
            "exists_one" => count == 1,
            _ => results,
        };
    }
}

/// <summary>The built-in functions Aegis supports, resolved at compile time.</summary>
internal static class CelFunctions
{
    public static readonly string[] Names =
    [
        "size", "int", "uint", "double", "string", "bool", "timestamp", "duration", "matches", "dyn",
        "startsWith", "endsWith", "contains", "lowerAscii", "upperAscii",
        "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes", "getSeconds",
    ];

    /// <summary>Builds the node for a call; throws <see cref="CelCompileException"/> for unknown functions or arities.</summary>
    public static CelNode Create(string name, CelNode? target, List<CelNode> args, int position)
    {
        CelNode[] all = target is null ? [.. args] : [target, .. args];
        int arity = all.Length;
        void Expect(params int[] allowed)
        {
            if (!allowed.Contains(arity))
            {
                throw new CelCompileException($"{name}() takes {string.Join(" or ", allowed.Select(a => target is null ? a : a - 1))} argument(s)", position);
            }
        }

        switch (name)
        {
            case "size":
                Expect(1);
                return new FunctionNode(name, all, v => CelRuntime.Size(v[0]));
            case "dyn":
                Expect(1);
                return all[0];
            case "int" or "uint" or "double" or "string" or "bool":
                Expect(1);
                return new FunctionNode(name, all, v => Convert(name, v[0]));
            case "timestamp":
                Expect(1);
                return new FunctionNode(name, all, v => v[0] switch
                {
                    string s when DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) && s.Contains('T', StringComparison.Ordinal) => t,
                    DateTimeOffset t => t,
                    var x => new CelError($"timestamp() needs an RFC 3339 string, got {Describe(x)}"),
                });
            case "duration":
                Expect(1);
                return new FunctionNode(name, all, v => v[0] switch
                {
                    string s when Values.GoDuration.ParseSigned(s) is TimeSpan d => d,
                    TimeSpan d => d,
                    var x => new CelError($"duration() needs a string such as \"90s\" or \"1h30m\", got {Describe(x)}"),
                });
            case "startsWith" or "endsWith" or "contains":
                Expect(2);
                return new FunctionNode(name, all, v => (v[0], v[1]) switch
                {
                    (string s, string p) => name switch
                    {
                        "startsWith" => s.StartsWith(p, StringComparison.Ordinal),
                        "endsWith" => s.EndsWith(p, StringComparison.Ordinal),
                        _ => s.Contains(p, StringComparison.Ordinal),
                    },
                    var (a, b) => CelRuntime.NoOverload(name, a, b),
                });
            case "lowerAscii" or "upperAscii":
                Expect(1);
                return new FunctionNode(name, all, v => v[0] is string s
                    ? (name == "lowerAscii" ? AsciiCase(s, lower: true) : AsciiCase(s, lower: false))
                    : CelRuntime.NoOverload(name, v[0]));
            case "matches":
                Expect(2);
                if (all[1] is ConstNode { Value: string pattern })
                {
                    var regex = CompileRegex(pattern, position);
                    return new FunctionNode(name, [all[0]], v => v[0] is string s ? regex.IsMatch(s) : CelRuntime.NoOverload(name, v[0]));
                }

                return new FunctionNode(name, all, v => (v[0], v[1]) switch
                {
                    (string s, string p) => RegexOrError(p) is Regex r ? r.IsMatch(s) : new CelError($"invalid regular expression: {p}"),
                    var (a, b) => CelRuntime.NoOverload(name, a, b),
                });
            case "getFullYear" or "getMonth" or "getDate" or "getDayOfMonth" or "getDayOfWeek" or "getDayOfYear" or "getHours" or "getMinutes" or "getSeconds":
                if (target is null)
                {
                    throw new CelCompileException($"{name}() is a method of a timestamp: now.{name}()", position);
                }

                Expect(1, 2);
                return new FunctionNode(name, all, v => TimestampPart(name, v));
            default:
                throw new CelCompileException($"unknown function '{name}'; Aegis supports: {string.Join(", ", Names)}, has, exists, all, exists_one, map, filter", position);
        }
    }

    private static string AsciiCase(string s, bool lower) =>
        string.Create(s.Length, (s, lower), static (span, state) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                var c = state.s[i];
                span[i] = state.lower ? (char.IsAsciiLetterUpper(c) ? (char)(c + 32) : c) : (char.IsAsciiLetterLower(c) ? (char)(c - 32) : c);
            }
        });

    public static Regex CompileRegex(string pattern, int position) =>
        RegexOrError(pattern) ?? throw new CelCompileException($"invalid or unsupported regular expression: {pattern}", position);

    private static Regex? RegexOrError(string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    private static string Describe(object? x) => x is string s ? $"\"{s}\"" : CelRuntime.TypeName(x);

    private static object? Convert(string type, object? v)
    {
        switch (type, v)
        {
            case ("int", long l): return l;
            case ("int", ulong u): return u <= long.MaxValue ? (long)u : new CelError("integer overflow");
            case ("int", double d): return double.IsFinite(d) && d is >= -9.2233720368547758E18 and < 9.2233720368547758E18 ? (long)Math.Truncate(d) : new CelError("integer overflow");
            case ("int", string s): return long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var p) ? p : new CelError($"cannot convert \"{s}\" to int");
            case ("int", DateTimeOffset t): return t.ToUnixTimeSeconds();
            case ("uint", long l): return l >= 0 ? (ulong)l : new CelError("unsigned integer overflow");
            case ("uint", ulong u): return u;
            case ("uint", double d): return double.IsFinite(d) && d is >= 0 and < 1.8446744073709552E19 ? (ulong)Math.Truncate(d) : new CelError("unsigned integer overflow");
            case ("uint", string s): return ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var q) ? q : new CelError($"cannot convert \"{s}\" to uint");
            case ("double", long l): return (double)l;
            case ("double", ulong u): return (double)u;
            case ("double", double d): return d;
            case ("double", string s): return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) ? r : new CelError($"cannot convert \"{s}\" to double");
            case ("string", string s): return s;
            case ("string", long l): return l.ToString(CultureInfo.InvariantCulture);
            case ("string", ulong u): return u.ToString(CultureInfo.InvariantCulture);
            case ("string", double d): return d.ToString("R", CultureInfo.InvariantCulture);
            case ("string", bool b): return b ? "true" : "false";
            case ("string", DateTimeOffset t): return t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
            case ("bool", bool b): return b;
            case ("bool", string s) when s is "true" or "false": return s == "true";
            default: return CelRuntime.NoOverload(type, v);
        }
    }

    private static object? TimestampPart(string name, object?[] v)
    {
        if (v[0] is not DateTimeOffset t)
        {
            return CelRuntime.NoOverload(name, v[0]);
        }

        if (v.Length == 2)
        {
            if (v[1] is not string zone || !Values.TimeZones.TryFind(zone, out var tz))
            {
                return new CelError($"{name}(): unknown time zone {Describe(v[1])}");
            }

            t = TimeZoneInfo.ConvertTime(t, tz);
        }
        else
        {
            t = t.ToUniversalTime();
        }

        return name switch
        {
            "getFullYear" => (long)t.Year,
            "getMonth" => (long)t.Month - 1,
            "getDate" => (long)t.Day,
            "getDayOfMonth" => (long)t.Day - 1,
            "getDayOfWeek" => (long)t.DayOfWeek,
            "getDayOfYear" => (long)t.DayOfYear - 1,
            "getHours" => (long)t.Hour,
            "getMinutes" => (long)t.Minute,
            _ => (long)t.Second,
        };
    }
}
