using System.Collections;
using System.Text.Json;
using Aegis.Policy.Conditions.Runtime;

namespace Aegis.Policy.Conditions;

/// <summary>Where a compiled expression reads its variables (by index into <see cref="CelCondition.Variables"/>), as CEL values.</summary>
public abstract class CelScope
{
    /// <summary>The value of variable number <paramref name="index"/>.</summary>
    public abstract object? Variable(int index);
}

/// <summary>A scope over a plain dictionary of .NET values (tests and tools), converted to CEL values once.</summary>
public sealed class DictionaryCelScope : CelScope
{
    private readonly object?[] _values;

    public DictionaryCelScope(IReadOnlyDictionary<string, object?> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _values = new object?[CelCondition.Variables.Length];
        for (var i = 0; i < _values.Length; i++)
        {
            var name = CelCondition.Variables[i];
            _values[i] = values.TryGetValue(name, out var value) ? ToCel(value) : new CelError($"variable '{name}' is not set");
        }
    }

    public override object? Variable(int index) => _values[index];

    /// <summary>A .NET value as a CEL value: integers become int or uint, other numbers double, times timestamps and durations.</summary>
    internal static object? ToCel(object? value) => value switch
    {
        null or bool or long or ulong or double or string or CelTimestamp or CelDuration or CelBytes or CelMap => value,
        int or short or sbyte => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
        uint or ushort or byte => Convert.ToUInt64(value, System.Globalization.CultureInfo.InvariantCulture),
        float or decimal => Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture),
        DateTimeOffset t => CelTimestamp.FromDateTimeOffset(t),
        DateTime t => CelTimestamp.FromDateTimeOffset(new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc))),
        TimeSpan d => new CelDuration(d.Ticks * 100),
        byte[] b => new CelBytes([.. b]),
        JsonElement e => CelValue.FromJson(e),
        IReadOnlyDictionary<string, object?> map => map.ToDictionary(p => p.Key, p => ToCel(p.Value), StringComparer.Ordinal),
        IDictionary<string, string> map => map.ToDictionary(p => p.Key, p => (object?)p.Value, StringComparer.Ordinal),
        IEnumerable list => list.Cast<object?>().Select(ToCel).ToArray(),
        _ => value,
    };
}
