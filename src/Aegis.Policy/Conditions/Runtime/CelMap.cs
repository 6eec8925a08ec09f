namespace Aegis.Policy.Conditions.Runtime;

/// <summary>
/// A map built by a CEL map literal with int, uint, bool or string keys, in insertion order. Numeric keys are
/// one number line: 1, 1u and 1.0 find the same entry, as cel-spec's heterogeneous equality says.
/// </summary>
internal sealed class CelMap
{
    private readonly List<KeyValuePair<object, object?>> _entries;
    private readonly Dictionary<object, int> _index;

    private CelMap(List<KeyValuePair<object, object?>> entries, Dictionary<object, int> index)
    {
        _entries = entries;
        _index = index;
    }

    public int Count => _entries.Count;

    public IReadOnlyList<KeyValuePair<object, object?>> Entries => _entries;

    /// <summary>Builds a map, or an error for a key of another type or a repeated key.</summary>
    public static object Create(object?[] keys, object?[] values)
    {
        var entries = new List<KeyValuePair<object, object?>>(keys.Length);
        var index = new Dictionary<object, int>(keys.Length);
        for (var i = 0; i < keys.Length; i++)
        {
            if (keys[i] is not (long or ulong or bool or string))
            {
                return new CelError($"unsupported key type for a map: {CelValue.TypeName(keys[i])}");
            }

            var key = keys[i]!;
            if (!index.TryAdd(Canonical(key)!, entries.Count))
            {
                return new CelError($"Failed with repeated key: {Describe(key)}");
            }

            entries.Add(new(key, values[i]));
        }

        return new CelMap(entries, index);
    }

    public bool TryGet(object? key, out object? value)
    {
        if (Canonical(key) is { } canonical && _index.TryGetValue(canonical, out var i))
        {
            value = _entries[i].Value;
            return true;
        }

        value = null;
        return false;
    }

    // Non-negative ints become uints so that 1 and 1u collide; a double finds the integer it equals; others find nothing.
    private static object? Canonical(object? key) => key switch
    {
        long l => l >= 0 ? (ulong)l : l,
        ulong or bool or string => key,
        double d when d == Math.Floor(d) && d >= 0 && d < 18446744073709551616.0 => (ulong)d,
        double d when d == Math.Floor(d) && d >= -9223372036854775808.0 && d < 0 => (long)d,
        _ => null,
    };

    private static string Describe(object key) => key is string s ? $"'{s}'" : CelStandardLibrary.ToText(key);
}
