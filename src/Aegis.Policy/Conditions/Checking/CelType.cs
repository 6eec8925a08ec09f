namespace Aegis.Policy.Conditions.Checking;

internal enum CelTypeKind
{
    Dyn,
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
    Object,
    TypeParam,
}

/// <summary>
/// A type of the checker: primitives, list(E), map(K, V), dyn, type parameters of generic overloads, and the
/// object types of Aegis's variables (agent, request, budget): maps at run time whose fields are declared.
/// </summary>
internal sealed class CelType : IEquatable<CelType>
{
    public static readonly CelType Dyn = new(CelTypeKind.Dyn, "dyn");
    public static readonly CelType Null = new(CelTypeKind.Null, "null_type");
    public static readonly CelType Bool = new(CelTypeKind.Bool, "bool");
    public static readonly CelType Int = new(CelTypeKind.Int, "int");
    public static readonly CelType Uint = new(CelTypeKind.Uint, "uint");
    public static readonly CelType Double = new(CelTypeKind.Double, "double");
    public static readonly CelType String = new(CelTypeKind.String, "string");
    public static readonly CelType Bytes = new(CelTypeKind.Bytes, "bytes");
    public static readonly CelType Timestamp = new(CelTypeKind.Timestamp, "google.protobuf.Timestamp");
    public static readonly CelType Duration = new(CelTypeKind.Duration, "google.protobuf.Duration");
    public static readonly CelType A = new(CelTypeKind.TypeParam, "A");
    public static readonly CelType B = new(CelTypeKind.TypeParam, "B");

    private CelType(CelTypeKind kind, string name)
    {
        Kind = kind;
        Name = name;
    }

    public CelTypeKind Kind { get; }

    /// <summary>The name of a primitive, type parameter or object type.</summary>
    public string Name { get; }

    public CelType? Element { get; private init; }

    public CelType? Key { get; private init; }

    public CelType? Value { get; private init; }

    public IReadOnlyDictionary<string, CelType>? Fields { get; private init; }

    public static CelType ListOf(CelType element) => new(CelTypeKind.List, "list") { Element = element };

    public static CelType MapOf(CelType key, CelType value) => new(CelTypeKind.Map, "map") { Key = key, Value = value };

    public static CelType Object(string name, IReadOnlyDictionary<string, CelType> fields) => new(CelTypeKind.Object, name) { Fields = fields };

    public bool Equals(CelType? other) =>
        other is not null && Kind == other.Kind && Kind switch
        {
            CelTypeKind.List => Element!.Equals(other.Element),
            CelTypeKind.Map => Key!.Equals(other.Key) && Value!.Equals(other.Value),
            CelTypeKind.Object or CelTypeKind.TypeParam => Name == other.Name,
            _ => true,
        };

    public override bool Equals(object? obj) => obj is CelType t && Equals(t);

    public override int GetHashCode() => HashCode.Combine(Kind, Name);

    public override string ToString() => Kind switch
    {
        CelTypeKind.List => $"list({Element})",
        CelTypeKind.Map => $"map({Key}, {Value})",
        CelTypeKind.Object => $"{Name}{{{string.Join(", ", Fields!.Select(f => $"{f.Key}: {f.Value}"))}}}",
        _ => Name,
    };
}
