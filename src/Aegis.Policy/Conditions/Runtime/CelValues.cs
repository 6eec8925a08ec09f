using System.Text.Json;

namespace Aegis.Policy.Conditions.Runtime;

/// <summary>
/// An evaluation error travelling as a value, so that &amp;&amp;, || and the macros can absorb it as cel-spec
/// requires. <see cref="Message"/> starts with the position ("1:14: division by zero") once a node has claimed it.
/// </summary>
internal sealed class CelError
{
    private CelError(string message, bool located)
    {
        Message = message;
        Located = located;
    }

    public CelError(string message)
        : this(message, located: false)
    {
    }

    public string Message { get; }

    internal bool Located { get; }

    /// <summary>This error with the position of the expression that raised it, unless it already has one.</summary>
    internal CelError At(string location) => Located ? this : new CelError($"{location}: {Message}", located: true);

    public override string ToString() => Message;
}

/// <summary>The runtime kinds of CEL values, for overload dispatch by type (never by name).</summary>
internal enum CelKind : byte
{
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    List,
    Map,
    Error,
    Other,
}

/// <summary>
/// The CEL value model: null, bool, long (int), ulong (uint), double, string, <see cref="CelBytes"/>,
/// <see cref="CelTimestamp"/>, <see cref="CelDuration"/>, lists (<see cref="IReadOnlyList{T}"/> or a JSON array read in
/// place), maps (string-keyed dictionaries, <see cref="CelMap"/>, or a JSON object read in place), and <see cref="CelError"/>.
/// </summary>
internal static class CelValue
{
    public static readonly object True = true;
    public static readonly object False = false;

    public static object Bool(bool value) => value ? True : False;

    public static CelKind KindOf(object? value) => value switch
    {
        null => CelKind.Null,
        bool => CelKind.Bool,
        long => CelKind.Int,
        ulong => CelKind.Uint,
        double => CelKind.Double,
        string => CelKind.String,
        CelError => CelKind.Error,
        JsonElement { ValueKind: JsonValueKind.Array } => CelKind.List,
        JsonElement { ValueKind: JsonValueKind.Object } => CelKind.Map,
        IReadOnlyList<object?> => CelKind.List,
        IReadOnlyDictionary<string, object?> or CelMap => CelKind.Map,
        CelTimestamp => CelKind.Timestamp,
        CelDuration => CelKind.Duration,
        CelBytes => CelKind.Bytes,
        _ => CelKind.Other,
    };

    public static string TypeName(object? value) => KindOf(value) switch
    {
        CelKind.Null => "null_type",
        CelKind.Bool => "bool",
        CelKind.Int => "int",
        CelKind.Uint => "uint",
        CelKind.Double => "double",
        CelKind.String => "string",
        CelKind.Bytes => "bytes",
        CelKind.Timestamp => "google.protobuf.Timestamp",
        CelKind.Duration => "google.protobuf.Duration",
        CelKind.List => "list",
        CelKind.Map => "map",
        CelKind.Error => "error",
        _ => value!.GetType().Name,
    };

    public static CelError NoOverload(string function, object? a) => new($"no such overload: {function}({TypeName(a)})");

    public static CelError NoOverload(string function, object? a, object? b) => new($"no such overload: {function}({TypeName(a)}, {TypeName(b)})");

    /// <summary>A JSON value as CEL sees it (cel-spec's JSON mapping): every number is a double.</summary>
    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetDouble(out var d) && double.IsFinite(d) ? d : new CelError($"JSON number out of the double range: {e.GetRawText()}"),
        JsonValueKind.True => True,
        JsonValueKind.False => False,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => e,
    };
}

/// <summary>A CEL bytes value (immutable).</summary>
internal sealed class CelBytes(byte[] value) : IEquatable<CelBytes>, IComparable<CelBytes>
{
    public static readonly CelBytes Empty = new([]);

    public ReadOnlySpan<byte> Span => value;

    public int Length => value.Length;

    public bool Equals(CelBytes? other) => other is not null && Span.SequenceEqual(other.Span);

    public override bool Equals(object? obj) => obj is CelBytes b && Equals(b);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(value);
        return hash.ToHashCode();
    }

    public int CompareTo(CelBytes? other) => other is null ? 1 : Span.SequenceCompareTo(other.Span);

    public CelBytes Concat(CelBytes other) => new([.. value, .. other.Span]);
}
