using System.Text.Json;

namespace Aegis.Policy.Conditions.Runtime;

/// <summary>Field selection, indexing, membership, size, iteration, equality and ordering over every value representation.</summary>
internal static class CelAccess
{
    /// <summary><c>e.f</c>: a map key; a missing key is an error (has() tests presence).</summary>
    public static object? Select(object? target, string field) => target switch
    {
        CelError => target,
        JsonElement { ValueKind: JsonValueKind.Object } obj => obj.TryGetProperty(field, out var v) ? CelValue.FromJson(v) : NoSuchKey(field),
        IReadOnlyDictionary<string, object?> map => map.TryGetValue(field, out var v) ? v : NoSuchKey(field),
        CelMap map => map.TryGet(field, out var v) ? v : NoSuchKey(field),
        _ => new CelError($"type '{CelValue.TypeName(target)}' does not support field selection"),
    };

    /// <summary><c>has(e.f)</c>.</summary>
    public static object? Has(object? target, string field) => target switch
    {
        CelError => target,
        JsonElement { ValueKind: JsonValueKind.Object } obj => CelValue.Bool(obj.TryGetProperty(field, out _)),
        IReadOnlyDictionary<string, object?> map => CelValue.Bool(map.ContainsKey(field)),
        CelMap map => CelValue.Bool(map.TryGet(field, out _)),
        _ => new CelError($"type '{CelValue.TypeName(target)}' does not support field selection"),
    };

    public static CelError NoSuchKey(object key) => new($"no such key: {(key is string s ? s : CelStandardLibrary.ToText(key))}");

    /// <summary><c>e[i]</c> on lists (int, uint, or a double with an integral value) and maps.</summary>
    public static object? Index(object? target, object? index)
    {
        switch (target)
        {
            case JsonElement { ValueKind: JsonValueKind.Array } array:
                return ListIndex(index, array.GetArrayLength()) is int i ? CelValue.FromJson(array[i]) : IndexError(index);
            case IReadOnlyList<object?> list:
                return ListIndex(index, list.Count) is int j ? list[j] : IndexError(index);
            case JsonElement { ValueKind: JsonValueKind.Object } obj:
                return index is string key ? (obj.TryGetProperty(key, out var v) ? CelValue.FromJson(v) : NoSuchKey(key)) : KeyTypeError(index);
            case IReadOnlyDictionary<string, object?> map:
                return index is string k ? (map.TryGetValue(k, out var w) ? w : NoSuchKey(k)) : KeyTypeError(index);
            case CelMap map:
                return map.TryGet(index, out var x) ? x : (IsKeyType(index) ? NoSuchKey(index!) : KeyTypeError(index));
            default:
                return CelValue.NoOverload("_[_]", target, index);
        }
    }

    private static bool IsKeyType(object? key) => key is long or ulong or bool or string or double;

    private static CelError KeyTypeError(object? key) =>
        IsKeyType(key) ? NoSuchKey(key!) : new CelError($"unsupported key type: {CelValue.TypeName(key)}");

    private static CelError IndexError(object? index) => index is long or ulong or double
        ? new CelError($"index out of range: {CelStandardLibrary.ToText(index)}")
        : new CelError($"invalid_argument: a list index must be an int, got {CelValue.TypeName(index)}");

    private static int? ListIndex(object? index, int count)
    {
        long i;
        switch (index)
        {
            case long l:
                i = l;
                break;
            case ulong u when u <= int.MaxValue:
                i = (long)u;
                break;
            case double d when d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue:
                i = (long)d;
                break;
            default:
                return null;
        }

        return i >= 0 && i < count ? (int)i : null;
    }

    /// <summary><c>a in b</c>: list membership by CEL equality, or presence of a map key.</summary>
    public static object In(object? element, object? collection)
    {
        switch (collection)
        {
            case JsonElement { ValueKind: JsonValueKind.Array } array:
                foreach (var item in array.EnumerateArray())
                {
                    if (Equal(element, CelValue.FromJson(item)))
                    {
                        return CelValue.True;
                    }
                }

                return CelValue.False;
            case IReadOnlyList<object?> list:
                for (var i = 0; i < list.Count; i++)
                {
                    if (Equal(element, list[i]))
                    {
                        return CelValue.True;
                    }
                }

                return CelValue.False;
            case JsonElement { ValueKind: JsonValueKind.Object } obj:
                return CelValue.Bool(element is string key && obj.TryGetProperty(key, out _));
            case IReadOnlyDictionary<string, object?> map:
                return CelValue.Bool(element is string k && map.ContainsKey(k));
            case CelMap map:
                return CelValue.Bool(map.TryGet(element, out _));
            default:
                return CelValue.NoOverload("@in", element, collection);
        }
    }

    public static int? Count(object? value) => value switch
    {
        JsonElement { ValueKind: JsonValueKind.Array } a => a.GetArrayLength(),
        JsonElement { ValueKind: JsonValueKind.Object } o => o.GetPropertyCount(),
        IReadOnlyList<object?> l => l.Count,
        IReadOnlyDictionary<string, object?> m => m.Count,
        CelMap m => m.Count,
        _ => null,
    };

    /// <summary>The elements of a list or the keys of a map, for the comprehension macros; null for other values.</summary>
    public static IEnumerable<object?>? Iterate(object? range) => range switch
    {
        JsonElement { ValueKind: JsonValueKind.Array } a => a.EnumerateArray().Select(CelValue.FromJson),
        JsonElement { ValueKind: JsonValueKind.Object } o => o.EnumerateObject().Select(p => (object?)p.Name),
        IReadOnlyList<object?> l => l,
        IReadOnlyDictionary<string, object?> m => m.Keys,
        CelMap m => m.Entries.Select(e => (object?)e.Key),
        _ => null,
    };

    private static IEnumerable<KeyValuePair<object, object?>>? MapEntries(object? value) => value switch
    {
        JsonElement { ValueKind: JsonValueKind.Object } o => o.EnumerateObject().Select(p => new KeyValuePair<object, object?>(p.Name, CelValue.FromJson(p.Value))),
        IReadOnlyDictionary<string, object?> m => m.Select(p => new KeyValuePair<object, object?>(p.Key, p.Value)),
        CelMap m => m.Entries,
        _ => null,
    };

    private static bool TryLookup(object? map, object key, out object? value)
    {
        var found = Index(map, key);
        value = found;
        return found is not CelError;
    }

    /// <summary>cel-spec's heterogeneous equality: numbers on one number line, other kinds must agree, else false.</summary>
    public static bool Equal(object? a, object? b)
    {
        if (ReferenceEquals(a, b))
        {
            return a is not double d || !double.IsNaN(d);
        }

        switch (a)
        {
            case null:
                return b is null;
            case string s:
                return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case bool x:
                return b is bool y && x == y;
            case long or ulong or double:
                return CompareNumbers(a, b) == 0;
            case CelTimestamp t1:
                return b is CelTimestamp t2 && t1 == t2;
            case CelDuration d1:
                return b is CelDuration d2 && d1 == d2;
            case CelBytes b1:
                return b is CelBytes b2 && b1.Equals(b2);
        }

        var kind = CelValue.KindOf(a);
        if (kind != CelValue.KindOf(b))
        {
            return false;
        }

        if (kind == CelKind.List)
        {
            var la = Iterate(a)!.ToList();
            var lb = Iterate(b)!.ToList();
            if (la.Count != lb.Count)
            {
                return false;
            }

            for (var i = 0; i < la.Count; i++)
            {
                if (!Equal(la[i], lb[i]))
                {
                    return false;
                }
            }

            return true;
        }

        if (kind == CelKind.Map)
        {
            if (Count(a) != Count(b))
            {
                return false;
            }

            foreach (var (key, value) in MapEntries(a)!)
            {
                if (!TryLookup(b, key, out var other) || !Equal(value, other))
                {
                    return false;
                }
            }

            return true;
        }

        return false;
    }

    /// <summary>
    /// Ordering of two numbers of any numeric kinds: int and uint exactly, either against a double as cel-go does;
    /// -1, 0, 1, or null when either is NaN or not a number.
    /// </summary>
    public static int? CompareNumbers(object? a, object? b)
    {
        switch (a, b)
        {
            case (long x, long y): return x.CompareTo(y);
            case (ulong x, ulong y): return x.CompareTo(y);
            case (double x, double y): return double.IsNaN(x) || double.IsNaN(y) ? null : x.CompareTo(y);
            case (long x, ulong y): return x < 0 ? -1 : ((ulong)x).CompareTo(y);
            case (ulong x, long y): return y < 0 ? 1 : x.CompareTo((ulong)y);
            case (long x, double y): return CompareIntDouble(x, y);
            case (double x, long y): return -CompareIntDouble(y, x);
            case (ulong x, double y): return CompareUintDouble(x, y);
            case (double x, ulong y): return -CompareUintDouble(y, x);
            default: return null;
        }
    }

    // As cel-go and the conformance tests do: beyond the integer's range the double decides; within it the integer is
    // converted to double, so 9223372036854775807 equals 9223372036854775808.0 (the double it rounds to).
    private static int? CompareIntDouble(long x, double y) =>
        double.IsNaN(y) ? null : y < -9223372036854775808.0 ? 1 : y > 9223372036854775807.0 ? -1 : ((double)x).CompareTo(y);

    private static int? CompareUintDouble(ulong x, double y) =>
        double.IsNaN(y) ? null : y < 0 ? 1 : y > 18446744073709551615.0 ? -1 : ((double)x).CompareTo(y);

    /// <summary>Ordering for &lt; &lt;= &gt; &gt;=, or null when the kinds have none (the caller reports no such overload).</summary>
    public static int? Compare(object? a, object? b) => (a, b) switch
    {
        (long or ulong or double, long or ulong or double) => CompareNumbers(a, b),
        (string x, string y) => CompareCodePoints(x, y),
        (bool x, bool y) => x.CompareTo(y),
        (CelTimestamp x, CelTimestamp y) => x.CompareTo(y),
        (CelDuration x, CelDuration y) => x.CompareTo(y),
        (CelBytes x, CelBytes y) => Math.Sign(x.CompareTo(y)),
        _ => null,
    };

    /// <summary>Lexicographic order of code points (UTF-16 order differs for code points above U+FFFF).</summary>
    public static int CompareCodePoints(string a, string b)
    {
        var common = a.AsSpan().CommonPrefixLength(b);
        if (common == a.Length || common == b.Length)
        {
            return a.Length.CompareTo(b.Length);
        }

        int x = a[common], y = b[common];
        if (x >= 0xD800 && y >= 0xD800)
        {
            // Surrogates (U+D800-DFFF) encode code points above every BMP character: move them past U+FFFF.
            x = x >= 0xE000 ? x - 0x800 : x + 0x2000;
            y = y >= 0xE000 ? y - 0x800 : y + 0x2000;
        }

        return x.CompareTo(y);
    }
}
