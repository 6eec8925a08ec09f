namespace Aegis.Policy.Conditions.Syntax;

/// <summary>
/// A node of a parsed CEL expression: a unique id (the checker keys types by it) and the source offset of the token
/// that names it (the operator, the call, the literal), which runtime errors report as line:column.
/// </summary>
internal abstract record CelExpr(int Id, int Offset);

/// <summary>A literal: long, ulong, double, string, CelBytes, bool or null.</summary>
internal sealed record CelConstExpr(int Id, int Offset, object? Value) : CelExpr(Id, Offset);

/// <summary>A name; <see cref="RootScope"/> for a leading dot (.x), which skips comprehension variables.</summary>
internal sealed record CelIdentExpr(int Id, int Offset, string Name, bool RootScope) : CelExpr(Id, Offset);

/// <summary><c>operand.field</c>; with <see cref="TestOnly"/> it is the expansion of <c>has(operand.field)</c>.</summary>
internal sealed record CelSelectExpr(int Id, int Offset, CelExpr Operand, string Field, bool TestOnly) : CelExpr(Id, Offset);

/// <summary>
/// A function or operator call. Operators carry cel-spec's internal names (<c>_+_</c>, <c>_&amp;&amp;_</c>,
/// <c>_?_:_</c>, <c>!_</c>, <c>-_</c>, <c>_[_]</c>, <c>@in</c>); member calls have a <see cref="Target"/>.
/// </summary>
internal sealed record CelCallExpr(int Id, int Offset, string Function, CelExpr? Target, IReadOnlyList<CelExpr> Args) : CelExpr(Id, Offset);

internal sealed record CelListExpr(int Id, int Offset, IReadOnlyList<CelExpr> Elements) : CelExpr(Id, Offset);

internal sealed record CelMapExpr(int Id, int Offset, IReadOnlyList<CelMapEntry> Entries) : CelExpr(Id, Offset);

internal sealed record CelMapEntry(CelExpr Key, CelExpr Value);

internal enum ComprehensionKind
{
    All,
    Exists,
    ExistsOne,
    Map,
    Filter,
}

/// <summary>
/// An expanded comprehension macro over a list's elements or a map's keys: <c>range.all(x, predicate)</c>,
/// <c>exists</c>, <c>exists_one</c>, <c>filter</c>, <c>map(x, transform)</c> or <c>map(x, predicate, transform)</c>.
/// </summary>
internal sealed record CelComprehensionExpr(int Id, int Offset, ComprehensionKind Kind, string Variable, CelExpr Range, CelExpr? Predicate, CelExpr? Transform)
    : CelExpr(Id, Offset);

/// <summary>The operator names the parser gives calls.</summary>
internal static class CelOperators
{
    public const string Conditional = "_?_:_";
    public const string LogicalAnd = "_&&_";
    public const string LogicalOr = "_||_";
    public const string LogicalNot = "!_";
    public const string Negate = "-_";
    public const string Index = "_[_]";
    public const string In = "@in";
    public const string Equal = "_==_";
    public const string NotEqual = "_!=_";
    public const string Less = "_<_";
    public const string LessEquals = "_<=_";
    public const string Greater = "_>_";
    public const string GreaterEquals = "_>=_";
    public const string Add = "_+_";
    public const string Subtract = "_-_";
    public const string Multiply = "_*_";
    public const string Divide = "_/_";
    public const string Modulo = "_%_";

    public static string ForToken(string token) => token switch
    {
        "==" => Equal,
        "!=" => NotEqual,
        "<" => Less,
        "<=" => LessEquals,
        ">" => Greater,
        ">=" => GreaterEquals,
        "+" => Add,
        "-" => Subtract,
        "*" => Multiply,
        "/" => Divide,
        "%" => Modulo,
        "in" => In,
        _ => token,
    };

    /// <summary>How an operator reads in messages ("_+_" is "+").</summary>
    public static string Display(string function) => function switch
    {
        In => "in",
        Index => "[]",
        LogicalNot => "!",
        Negate => "-",
        Conditional => "?:",
        _ when function.Length > 2 && function[0] == '_' && function[^1] == '_' => function[1..^1],
        _ => function,
    };
}
