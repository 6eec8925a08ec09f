using System.Diagnostics.CodeAnalysis;
using Aegis.Policy.Conditions.Checking;
using Aegis.Policy.Conditions.Planning;
using Aegis.Policy.Conditions.Runtime;
using Aegis.Policy.Conditions.Syntax;

namespace Aegis.Policy.Conditions;

/// <summary>Outcome of evaluating a condition: true, false, or an error (which callers must fail closed on).</summary>
public readonly record struct ConditionResult(bool Value, string? Error)
{
    public static readonly ConditionResult True = new(true, null);
    public static readonly ConditionResult False = new(false, null);

    /// <summary>True when evaluation failed.</summary>
    public bool Failed => Error is not null;
}

/// <summary>
/// A CEL <c>when</c> expression, compiled once at bundle load (parse, type-check against the declared variables,
/// plan) and evaluated per decision without parsing, name lookups or exceptions. Immutable and safe to share
/// between threads.
/// </summary>
public sealed class CelCondition
{
    /// <summary>The variables a condition may use, in the index order of <see cref="CelScope.Variable"/>.</summary>
    public static readonly string[] Variables = ["agent", "tool", "args", "request", "cost", "budget", "region", "now"];

    /// <summary>Iterations all comprehensions of one evaluation may run together (nested loops over agent input are bounded).</summary>
    public const int IterationBudget = 100_000;

    private static readonly CelVariable[] Declarations =
    [
        new("agent", 0, CelType.Object("agent", new Dictionary<string, CelType>(StringComparer.Ordinal)
        {
            ["id"] = CelType.String,
            ["tenant"] = CelType.String,
            ["org"] = CelType.String,
            ["scopes"] = CelType.ListOf(CelType.String),
        })),
        new("tool", 1, CelType.String),
        new("args", 2, CelType.Dyn),
        new("request", 3, CelType.Object("request", new Dictionary<string, CelType>(StringComparer.Ordinal)
        {
            ["method"] = CelType.String,
            ["host"] = CelType.String,
            ["path"] = CelType.String,
            ["headers"] = CelType.MapOf(CelType.String, CelType.String),
        })),
        new("cost", 4, CelType.Double),
        new("budget", 5, CelType.Object("budget", new[] { "spent", "limit", "spentToday", "spentThisMonth", "daily", "monthly" }
            .ToDictionary(f => f, _ => CelType.Double, StringComparer.Ordinal))),
        new("region", 6, CelType.String),
        new("now", 7, CelType.Timestamp),
    ];

    private readonly CelPlan _root;
    private readonly int _localSlots;

    private CelCondition(string expression, CelPlan root, int localSlots)
    {
        Expression = expression;
        _root = root;
        _localSlots = localSlots;
    }

    /// <summary>The source expression.</summary>
    public string Expression { get; }

    /// <summary>
    /// Compiles <paramref name="expression"/>: syntax, declared names, types (the result must be able to be a boolean)
    /// and regular-expression literals. Never throws; the error names line:column and the reason.
    /// </summary>
    public static bool TryCompile(string expression, [NotNullWhen(true)] out CelCondition? condition, out string error)
    {
        condition = null;
        try
        {
            var source = new CelSource(expression);
            try
            {
                var ast = CelParser.Parse(expression);
                var checkedExpr = CelChecker.Check(ast, Declarations);
                condition = new CelCondition(expression, CelPlanner.Plan(checkedExpr, source), checkedExpr.LocalSlots);
                error = "";
                return true;
            }
            catch (CelCompileException e)
            {
                error = $"CEL does not compile: {source.Location(e.Offset)}: {e.Message}";
                return false;
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug in the compiler must refuse the condition, not take the loader (or the server) down.
            error = $"CEL does not compile: internal error ({e.GetType().Name}: {e.Message})";
            return false;
        }
    }

    /// <summary>Evaluates against one decision's variables; errors and non-boolean results are failures.</summary>
    public ConditionResult Evaluate(CelScope scope)
    {
        try
        {
            var frame = _localSlots > 0 ? new CelFrame(_localSlots, IterationBudget) : null;
            return _root.Eval(scope, frame) switch
            {
                true => ConditionResult.True,
                false => ConditionResult.False,
                CelError e => new ConditionResult(false, e.Message),
                var other => new ConditionResult(false, $"condition gave a {CelValue.TypeName(other)}, not a boolean"),
            };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Evaluation is written not to throw; if it ever does, the decision fails closed with condition_error.
            return new ConditionResult(false, $"internal error evaluating the condition ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>Evaluates against variables given by name as .NET values (tests and tools).</summary>
    public ConditionResult Evaluate(IReadOnlyDictionary<string, object?> variables) => Evaluate(new DictionaryCelScope(variables));
}
