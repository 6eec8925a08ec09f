using Aegis.Policy.Conditions.Runtime;
using Aegis.Policy.Conditions.Syntax;
using Lib = Aegis.Policy.Conditions.Runtime.CelStandardLibrary;

namespace Aegis.Policy.Conditions.Checking;

/// <summary>
/// One overload of a function or operator: its signature for the checker and its implementation for the planner,
/// which binds it once. Member overloads take the receiver as the first parameter.
/// </summary>
internal sealed class CelOverload
{
    public required string Id { get; init; }
    public required string Function { get; init; }
    public bool IsMember { get; init; }
    public required CelType[] Parameters { get; init; }
    public required CelType Result { get; init; }
    public Func<object?, object?>? Unary { get; init; }
    public Func<object?, object?, object?>? Binary { get; init; }

    /// <summary>The runtime kind each parameter takes, or null for any (dyn and type parameters).</summary>
    public CelKind?[] Kinds => _kinds ??= [.. Parameters.Select(KindOf)];

    private CelKind?[]? _kinds;

    private static CelKind? KindOf(CelType t) => t.Kind switch
    {
        CelTypeKind.Null => CelKind.Null,
        CelTypeKind.Bool => CelKind.Bool,
        CelTypeKind.Int => CelKind.Int,
        CelTypeKind.Uint => CelKind.Uint,
        CelTypeKind.Double => CelKind.Double,
        CelTypeKind.String => CelKind.String,
        CelTypeKind.Bytes => CelKind.Bytes,
        CelTypeKind.Timestamp => CelKind.Timestamp,
        CelTypeKind.Duration => CelKind.Duration,
        CelTypeKind.List => CelKind.List,
        CelTypeKind.Map or CelTypeKind.Object => CelKind.Map,
        _ => null,
    };
}

/// <summary>cel-spec's standard functions and operators (and lowerAscii/upperAscii from cel-go's strings library).</summary>
internal static class CelDeclarations
{
    // The class's own names, so that signatures read like cel-spec's.
    private static readonly CelType Bool = CelType.Bool;
    private static readonly CelType Int = CelType.Int;
    private static readonly CelType Uint = CelType.Uint;
    private static readonly CelType Double = CelType.Double;
    private static readonly CelType String = CelType.String;
    private static readonly CelType Bytes = CelType.Bytes;
    private static readonly CelType Timestamp = CelType.Timestamp;
    private static readonly CelType Duration = CelType.Duration;
    private static readonly CelType A = CelType.A;
    private static readonly CelType B = CelType.B;
    private static readonly CelType ListA = CelType.ListOf(A);
    private static readonly CelType MapAB = CelType.MapOf(A, B);

    private static readonly List<CelOverload> All = Build();

    /// <summary>Global functions and operators by name.</summary>
    public static readonly Dictionary<string, CelOverload[]> Global = All.Where(o => !o.IsMember).GroupBy(o => o.Function, StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);

    /// <summary>Member (receiver-style) functions by name.</summary>
    public static readonly Dictionary<string, CelOverload[]> Member = All.Where(o => o.IsMember).GroupBy(o => o.Function, StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);

    private static List<CelOverload> Build()
    {
        var list = new List<CelOverload>();

        void Add(string function, string id, CelType[] parameters, CelType result, Func<object?, object?>? unary = null, Func<object?, object?, object?>? binary = null, bool member = false) =>
            list.Add(new CelOverload { Id = id, Function = function, Parameters = parameters, Result = result, Unary = unary, Binary = binary, IsMember = member });

        Add(CelOperators.LogicalNot, "logical_not", [Bool], Bool, unary: Lib.Not);
        Add(CelOperators.Negate, "negate_int64", [Int], Int, unary: Lib.NegateInt);
        Add(CelOperators.Negate, "negate_double", [Double], Double, unary: Lib.NegateDouble);

        Add(CelOperators.Add, "add_int64", [Int, Int], Int, binary: Lib.AddInt);
        Add(CelOperators.Add, "add_uint64", [Uint, Uint], Uint, binary: Lib.AddUint);
        Add(CelOperators.Add, "add_double", [Double, Double], Double, binary: Lib.AddDouble);
        Add(CelOperators.Add, "add_string", [String, String], String, binary: Lib.AddString);
        Add(CelOperators.Add, "add_bytes", [Bytes, Bytes], Bytes, binary: Lib.AddBytes);
        Add(CelOperators.Add, "add_list", [ListA, ListA], ListA, binary: Lib.AddList);
        Add(CelOperators.Add, "add_timestamp_duration", [Timestamp, Duration], Timestamp, binary: Lib.AddTimestampDuration);
        Add(CelOperators.Add, "add_duration_timestamp", [Duration, Timestamp], Timestamp, binary: Lib.AddDurationTimestamp);
        Add(CelOperators.Add, "add_duration_duration", [Duration, Duration], Duration, binary: Lib.AddDuration);

        Add(CelOperators.Subtract, "subtract_int64", [Int, Int], Int, binary: Lib.SubtractInt);
        Add(CelOperators.Subtract, "subtract_uint64", [Uint, Uint], Uint, binary: Lib.SubtractUint);
        Add(CelOperators.Subtract, "subtract_double", [Double, Double], Double, binary: Lib.SubtractDouble);
        Add(CelOperators.Subtract, "subtract_timestamp_timestamp", [Timestamp, Timestamp], Duration, binary: Lib.SubtractTimestamps);
        Add(CelOperators.Subtract, "subtract_timestamp_duration", [Timestamp, Duration], Timestamp, binary: Lib.SubtractTimestampDuration);
        Add(CelOperators.Subtract, "subtract_duration_duration", [Duration, Duration], Duration, binary: Lib.SubtractDuration);

        Add(CelOperators.Multiply, "multiply_int64", [Int, Int], Int, binary: Lib.MultiplyInt);
        Add(CelOperators.Multiply, "multiply_uint64", [Uint, Uint], Uint, binary: Lib.MultiplyUint);
        Add(CelOperators.Multiply, "multiply_double", [Double, Double], Double, binary: Lib.MultiplyDouble);
        Add(CelOperators.Divide, "divide_int64", [Int, Int], Int, binary: Lib.DivideInt);
        Add(CelOperators.Divide, "divide_uint64", [Uint, Uint], Uint, binary: Lib.DivideUint);
        Add(CelOperators.Divide, "divide_double", [Double, Double], Double, binary: Lib.DivideDouble);
        Add(CelOperators.Modulo, "modulo_int64", [Int, Int], Int, binary: Lib.ModuloInt);
        Add(CelOperators.Modulo, "modulo_uint64", [Uint, Uint], Uint, binary: Lib.ModuloUint);

        // Equality is defined for all types (the checker wants both sides of one type, or dyn); the planner binds it directly.
        Add(CelOperators.Equal, "equals", [A, A], Bool);
        Add(CelOperators.NotEqual, "not_equals", [A, A], Bool);

        // Ordering: same-type overloads, plus the cross-type numeric ones cel-go declares.
        CelType[] ordered = [Bool, Int, Uint, Double, String, Bytes, Timestamp, Duration];
        foreach (var op in new[] { CelOperators.Less, CelOperators.LessEquals, CelOperators.Greater, CelOperators.GreaterEquals })
        {
            foreach (var t in ordered)
            {
                Add(op, $"{op}_{t.Name}", [t, t], Bool);
            }

            foreach (var (x, y) in new[] { (Int, Double), (Int, Uint), (Uint, Int), (Uint, Double), (Double, Int), (Double, Uint) })
            {
                Add(op, $"{op}_{x.Name}_{y.Name}", [x, y], Bool);
            }
        }

        Add(CelOperators.Index, "index_list", [ListA, Int], A, binary: CelAccess.Index);
        Add(CelOperators.Index, "index_map", [MapAB, A], B, binary: CelAccess.Index);
        Add(CelOperators.In, "in_list", [A, ListA], Bool, binary: CelAccess.In);
        Add(CelOperators.In, "in_map", [A, MapAB], Bool, binary: CelAccess.In);

        foreach (var member in new[] { false, true })
        {
            Add("size", "size_string", [String], Int, unary: Lib.Size, member: member);
            Add("size", "size_bytes", [Bytes], Int, unary: Lib.Size, member: member);
            Add("size", "size_list", [ListA], Int, unary: Lib.Size, member: member);
            Add("size", "size_map", [MapAB], Int, unary: Lib.Size, member: member);
            Add("matches", "matches_string", [String, String], Bool, binary: Matches, member: member);
        }

        Add("contains", "contains_string", [String, String], Bool, binary: Lib.Contains, member: true);
        Add("startsWith", "starts_with_string", [String, String], Bool, binary: Lib.StartsWith, member: true);
        Add("endsWith", "ends_with_string", [String, String], Bool, binary: Lib.EndsWith, member: true);
        Add("lowerAscii", "lower_ascii", [String], String, unary: Lib.LowerAscii, member: true);
        Add("upperAscii", "upper_ascii", [String], String, unary: Lib.UpperAscii, member: true);

        Add("int", "int64_to_int64", [Int], Int, unary: Lib.Identity);
        Add("int", "uint64_to_int64", [Uint], Int, unary: Lib.IntFromUint);
        Add("int", "double_to_int64", [Double], Int, unary: Lib.IntFromDouble);
        Add("int", "string_to_int64", [String], Int, unary: Lib.IntFromString);
        Add("int", "timestamp_to_int64", [Timestamp], Int, unary: Lib.IntFromTimestamp);
        Add("uint", "uint64_to_uint64", [Uint], Uint, unary: Lib.Identity);
        Add("uint", "int64_to_uint64", [Int], Uint, unary: Lib.UintFromInt);
        Add("uint", "double_to_uint64", [Double], Uint, unary: Lib.UintFromDouble);
        Add("uint", "string_to_uint64", [String], Uint, unary: Lib.UintFromString);
        Add("double", "double_to_double", [Double], Double, unary: Lib.Identity);
        Add("double", "int64_to_double", [Int], Double, unary: Lib.DoubleFromInt);
        Add("double", "uint64_to_double", [Uint], Double, unary: Lib.DoubleFromUint);
        Add("double", "string_to_double", [String], Double, unary: Lib.DoubleFromString);
        Add("string", "string_to_string", [String], String, unary: Lib.Identity);
        foreach (var t in new[] { Bool, Int, Uint, Double, Timestamp, Duration })
        {
            Add("string", $"{t.Name}_to_string", [t], String, unary: Lib.StringFromValue);
        }

        Add("string", "bytes_to_string", [Bytes], String, unary: Lib.StringFromBytes);
        Add("bytes", "bytes_to_bytes", [Bytes], Bytes, unary: Lib.Identity);
        Add("bytes", "string_to_bytes", [String], Bytes, unary: Lib.BytesFromString);
        Add("bool", "bool_to_bool", [Bool], Bool, unary: Lib.Identity);
        Add("bool", "string_to_bool", [String], Bool, unary: Lib.BoolFromString);
        Add("timestamp", "timestamp_to_timestamp", [Timestamp], Timestamp, unary: Lib.Identity);
        Add("timestamp", "string_to_timestamp", [String], Timestamp, unary: Lib.TimestampFromString);
        Add("timestamp", "int64_to_timestamp", [Int], Timestamp, unary: Lib.TimestampFromInt);
        Add("duration", "duration_to_duration", [Duration], Duration, unary: Lib.Identity);
        Add("duration", "string_to_duration", [String], Duration, unary: Lib.DurationFromString);
        Add("dyn", "to_dyn", [A], CelType.Dyn, unary: Lib.Identity);

        foreach (var (name, part) in new[]
        {
            ("getFullYear", TimePart.FullYear), ("getMonth", TimePart.Month), ("getDate", TimePart.Date), ("getDayOfMonth", TimePart.DayOfMonth),
            ("getDayOfWeek", TimePart.DayOfWeek), ("getDayOfYear", TimePart.DayOfYear), ("getHours", TimePart.Hours), ("getMinutes", TimePart.Minutes),
            ("getSeconds", TimePart.Seconds), ("getMilliseconds", TimePart.Milliseconds),
        })
        {
            Add(name, $"timestamp_{name}", [Timestamp], Int, unary: t => Lib.TimestampPart(part, t, null), member: true);
            Add(name, $"timestamp_{name}_with_tz", [Timestamp, String], Int, binary: (t, z) => Lib.TimestampPart(part, t, z), member: true);
            if (part is TimePart.Hours or TimePart.Minutes or TimePart.Seconds or TimePart.Milliseconds)
            {
                Add(name, $"duration_{name}", [Duration], Int, unary: d => Lib.DurationPart(part, d), member: true);
            }
        }

        return list;
    }

    // A pattern that is not a literal is compiled at each evaluation; literals are compiled once by the planner.
    private static object Matches(object? text, object? pattern) =>
        Regex.Re2Regex.TryCompile((string)pattern!, out var regex, out var error)
            ? CelValue.Bool(regex!.IsMatch((string)text!))
            : new CelError($"invalid regular expression '{pattern}': {error}");
}
