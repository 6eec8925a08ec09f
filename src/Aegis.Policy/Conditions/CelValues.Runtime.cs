using System.Globalization;
using System.Text.Json;

namespace Aegis.Policy.Conditions;

/// <summary>An evaluation error travelling as a value, so that &amp;&amp; and || can absorb it as cel-spec requires.</summary>
public sealed class CelError(string message)
{
    public string Message { get; } = message;

    public override string ToString() => Message;
}

/// <summary>Where a compiled expression reads its variables (by index into <see cref="CelCondition.Variables"/>).</summary>
public abstract class CelScope
{
    /// <summary>The value of variable number <paramref name="index"/>.</summary>
    public abstract object? Variable(int index);
}

/// <summary>A scope over a plain dictionary (tests and tools).</summary>
public sealed class DictionaryCelScope(IReadOnlyDictionary<string, object?> values) : CelScope
{
    public override object? Variable(int index) =>
        values.TryGetValue(CelCondition.Variables[index], out var value) ? value : new CelError($"variable '{CelCondition.Variables[index]}' is not set");
}

/// <summary>
/// The CEL value model: null, bool, long (int), ulong (uint), double, string, DateTimeOffset (timestamp),
/// TimeSpan (duration), lists, string-keyed maps, and JsonElement objects/arrays read in place.
/// </summary>
internal static class CelRuntime
{
    /// <summary>JSON primitives become CEL primitives; JSON objects and arrays stay JsonElement (no copy).</summary>
    public static object? Normalize(object? value) => value is JsonElement e ? FromJson(e) : value;

    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => e,
    };

    public static string TypeName(object? value) => value switch
    {
        null => "null",
        bool => "bool",
        long => "int",
        ulong => "uint",
        double => "double",
        string => "string",
        DateTimeOffset => "timestamp",
        TimeSpan => "duration",
        JsonElement { ValueKind: JsonValueKind.Array } or IReadOnlyList<object?> => "list",
        JsonElement { ValueKind: JsonValueKind.Object } or IReadOnlyDictionary<string, object?> => "map",
        CelError => "error",
        _ => value.GetType().Name,
    };

    public static CelError NoOverload(string op, object? a) => new($"no such overload: {op}({TypeName(a)})");

    public static CelError NoOverload(string op, object? a, object? b) => new($"no such overload: {TypeName(a)} {op} {TypeName(b)}");

    /// <summary>Field selection: a map key or a JSON object property; a missing key is an error (use has()).</summary>
    public static object? Select(object? target, string field) => target switch
    {
        CelError => target,
        JsonElement { ValueKind: JsonValueKind.Object } obj => obj.TryGetProperty(field, out var v) ? FromJson(v) : new CelError($"no such key: {field}"),
        IReadOnlyDictionary<string, object?> map => map.TryGetValue(field, out var v) ? Normalize(v) : new CelError($"no such key: {field}"),
        _ => new CelError($"type '{TypeName(target)}' does not support field selection ('.{field}')"),
    };

    /// <summary>has(target.field): presence, never an error for a missing key.</summary>
    public static object? Has(object? target, string field) => target switch
    {
        CelError => target,
        JsonElement { ValueKind: JsonValueKind.Object } obj => obj.TryGetProperty(field, out _),
        IReadOnlyDictionary<string, object?> map => map.ContainsKey(field),
        _ => new CelError($"has() needs a map, got {TypeName(target)}"),
    };

    public static object? Index(object? target, object? index)
    {
        if (target is CelError)
        {
            return target;
        }

        if (index is CelError)
        {
            return index;
        }

        switch (target)
        {
            case JsonElement { ValueKind: JsonValueKind.Array } array:
                return ToIndex(index, array.GetArrayLength()) is int i ? FromJson(array[i]) : new CelError($"index out of range: {index}");
            case IReadOnlyList<object?> list:
                return ToIndex(index, list.Count) is int j ? Normalize(list[j]) : new CelError($"index out of range: {index}");
            case JsonElement { ValueKind: JsonValueKind.Object } or IReadOnlyDictionary<string, object?> when index is string key:
                return Select(target, key);
            default:
                return NoOverload("_[_]", target, index);
        }
    }

    private static int? ToIndex(object? index, int count)
    {
        long? i = index switch
        {
            long l => l,
            ulong u when u <= long.MaxValue => (long)u,
            double d when d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
            _ => null,
        };
        return i is >= 0 && i < count ? (int)i : null;
    }

    public static bool TryNumber(object? value, out double d, out bool isInt, out long l, out bool isUInt, out ulong u)
    {
        d = 0;
        l = 0;
        u = 0;
        isInt = isUInt = false;
        switch (value)
        {
            case long x:
                isInt = true;
                l = x;
                d = x;
                return true;
            case ulong x:
                isUInt = true;
                u = x;
                d = x;
                return true;
            case double x:
                d = x;
                return true;
            default:
                return false;
        }
    }

    /// <summary>cel-spec equality, with numbers compared across int, uint and double.</summary>
    public static bool ValueEquals(object? a, object? b)
    {
        a = Normalize(a);
        b = Normalize(b);
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (TryNumber(a, out var da, out var ia, out var la, out var ua, out var uav) && TryNumber(b, out var db, out var ib, out var lb, out var ub, out var ubv))
        {
            if (ia && ib)
            {
                return la == lb;
            }

            if (ua && ub)
            {
                return uav == ubv;
            }

            return CompareNumbers(a, b) == 0;
        }

        switch (a, b)
        {
            case (string s, _):
                return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case (bool x, _):
                return b is bool y && x == y;
            case (DateTimeOffset x, _):
                return b is DateTimeOffset t2 && x == t2;
            case (TimeSpan x, _):
                return b is TimeSpan d2 && x == d2;
        }

        if (AsList(a) is { } listA && AsList(b) is { } listB)
        {
            return listA.Count == listB.Count && listA.Zip(listB).All(p => ValueEquals(p.First, p.Second));
        }

        if (AsMap(a) is { } mapA && AsMap(b) is { } mapB)
        {
            return mapA.Count == mapB.Count && mapA.All(kv => mapB.TryGetValue(kv.Key, out var v) && ValueEquals(kv.Value, v));
        }

        return false;
    }

    /// <summary>Ordering for &lt; &lt;= &gt; &gt;=: numbers across types, strings, bools, timestamps, durations.</summary>
    public static int? Compare(object? a, object? b)
    {
        if (TryNumber(a, out _, out _, out _, out _, out _) && TryNumber(b, out _, out _, out _, out _, out _))
        {
            return CompareNumbers(a, b);
        }

        return (a, b) switch
        {
            (string x, string y) => Math.Sign(string.CompareOrdinal(x, y)),
            (bool x, bool y) => x.CompareTo(y),
            (DateTimeOffset x, DateTimeOffset y) => x.CompareTo(y),
            (TimeSpan x, TimeSpan y) => x.CompareTo(y),
            _ => null,
        };
    }

    private static int? CompareNumbers(object? a, object? b)
    {
        // Exact across representations: a long compared with a double is not rounded through double first.
        switch (a, b)
        {
            case (long x, long y): return x.CompareTo(y);
            case (ulong x, ulong y): return x.CompareTo(y);
            case (long x, ulong y): return x < 0 ? -1 : ((ulong)x).CompareTo(y);
            case (ulong x, long y): return y < 0 ? 1 : x.CompareTo((ulong)y);
        }

        var da = Convert.ToDouble(a, CultureInfo.InvariantCulture);
        var db = Convert.ToDouble(b, CultureInfo.InvariantCulture);
        if (double.IsNaN(da) || double.IsNaN(db))
        {
            return null;
        }

        var c = da.CompareTo(db);
        if (c != 0 || a is double && b is double)
        {
            return c;
        }

        // Equal as doubles but one side is a 64-bit integer: compare exactly via decimal when in range.
        var other = a is double ? db : da;
        if (Math.Abs(other) < 7.9e28)
        {
            var ea = a is double ? (decimal)da : Convert.ToDecimal(a, CultureInfo.InvariantCulture);
            var eb = b is double ? (decimal)db : Convert.ToDecimal(b, CultureInfo.InvariantCulture);
            return ea.CompareTo(eb);
        }

        return 0;
    }

    public static IReadOnlyList<object?>? AsList(object? value) => value switch
    {
        IReadOnlyList<object?> list => list,
        JsonElement { ValueKind: JsonValueKind.Array } array => [.. array.EnumerateArray().Select(FromJson)],
        _ => null,
    };

    public static IReadOnlyDictionary<string, object?>? AsMap(object? value) => value switch
    {
        IReadOnlyDictionary<string, object?> map => map,
        JsonElement { ValueKind: JsonValueKind.Object } obj => obj.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value), StringComparer.Ordinal),
        _ => null,
    };

    public static object? Size(object? value) => Normalize(value) switch
    {
        CelError e => e,
        string s => (long)s.EnumerateRunes().Count(),
        JsonElement { ValueKind: JsonValueKind.Array } a => (long)a.GetArrayLength(),
        JsonElement { ValueKind: JsonValueKind.Object } o => (long)o.EnumerateObject().Count(),
        IReadOnlyList<object?> l => (long)l.Count,
        IReadOnlyDictionary<string, object?> m => (long)m.Count,
        var other => NoOverload("size", other),
    };

    public static object? In(object? element, object? collection)
    {
        if (element is CelError)
        {
            return element;
        }

        switch (collection)
        {
            case CelError:
                return collection;
            case JsonElement { ValueKind: JsonValueKind.Array } array:
                foreach (var item in array.EnumerateArray())
                {
                    if (ValueEquals(element, FromJson(item)))
                    {
                        return true;
                    }
                }

                return false;
            case IReadOnlyList<object?> list:
                foreach (var item in list)
                {
                    if (ValueEquals(element, item))
                    {
                        return true;
                    }
                }

                return false;
            case JsonElement { ValueKind: JsonValueKind.Object } obj:
                return element is string key ? obj.TryGetProperty(key, out _) : false;
            case IReadOnlyDictionary<string, object?> map:
                return element is string k && map.ContainsKey(k);
            default:
                return NoOverload("in", element, collection);
        }
    }

    public static object? Add(object? a, object? b)
    {
        switch (a, b)
        {
            case (long x, long y):
                return Checked(() => checked(x + y));
            case (ulong x, ulong y):
                return Checked(() => checked(x + y));
            case (string x, string y):
                return x + y;
            case (DateTimeOffset t, TimeSpan d):
                return t + d;
            case (TimeSpan d, DateTimeOffset t):
                return t + d;
            case (TimeSpan x, TimeSpan y):
                return x + y;
        }

        if (Numeric(a, b, out var da, out var db))
        {
            return da + db;
        }

        if (AsList(a) is { } la && AsList(b) is { } lb)
        {
            return (IReadOnlyList<object?>)[.. la, .. lb];
        }

        return NoOverload("+", a, b);
    }

    public static object? Arithmetic(string op, object? a, object? b)
    {
        switch (op, a, b)
        {
            case ("-", long x, long y): return Checked(() => checked(x - y));
            case ("*", long x, long y): return Checked(() => checked(x * y));
            case ("/", long, 0L) or ("%", long, 0L): return new CelError("division by zero");
            case ("/", long x, long y): return x == long.MinValue && y == -1 ? new CelError("integer overflow") : x / y;
            case ("%", long x, long y): return y == -1 ? 0L : x % y;
            case ("-", ulong x, ulong y): return Checked(() => checked(x - y));
            case ("*", ulong x, ulong y): return Checked(() => checked(x * y));
            case ("/", ulong, 0UL) or ("%", ulong, 0UL): return new CelError("division by zero");
            case ("/", ulong x, ulong y): return x / y;
            case ("%", ulong x, ulong y): return x % y;
            case ("-", DateTimeOffset x, DateTimeOffset y): return x - y;
            case ("-", DateTimeOffset x, TimeSpan y): return x - y;
            case ("-", TimeSpan x, TimeSpan y): return x - y;
        }

        if (op != "%" && Numeric(a, b, out var da, out var db))
        {
            return op switch
            {
                "-" => da - db,
                "*" => da * db,
                _ => da / db,
            };
        }

        return NoOverload(op, a, b);
    }

    // int and double mix (JSON integers are ints): promote to double rather than fail.
    private static bool Numeric(object? a, object? b, out double da, out double db)
    {
        da = db = 0;
        if (a is double or long or ulong && b is double or long or ulong)
        {
            da = Convert.ToDouble(a, CultureInfo.InvariantCulture);
            db = Convert.ToDouble(b, CultureInfo.InvariantCulture);
            return true;
        }

        return false;
    }

    private static object Checked(Func<object> operation)
    {
        try
        {
            return operation();
        }
        catch (OverflowException)
        {
            return new CelError("integer overflow");
        }
    }
}
