using Cel;

namespace Aegis.Policy.Conditions;

/// <summary>Outcome of evaluating a condition: true, false, or an error (which callers must fail closed on).</summary>
public readonly record struct ConditionResult(bool Value, string? Error)
{
    public static readonly ConditionResult True = new(true, null);
    public static readonly ConditionResult False = new(false, null);

    /// <summary>True when evaluation failed.</summary>
    public bool Failed => Error is not null;
}

/// <summary>A CEL `when` expression compiled once at bundle load and evaluated per decision.</summary>
public sealed class CelCondition
{
    /// <summary>The variables a condition may use.</summary>
    public static readonly string[] Variables = ["agent", "tool", "args", "request", "cost", "budget", "region", "now"];

    private static readonly CelEnvironment Environment = new([], "");
    private static readonly Lock CompileLock = new();
    private readonly CelProgramDelegate _program;

    private CelCondition(string expression, CelProgramDelegate program)
    {
        Expression = expression;
        _program = program;
    }

    /// <summary>The source expression.</summary>
    public string Expression { get; }

    /// <summary>Compiles <paramref name="expression"/> and checks that it only names known variables and yields a boolean.</summary>
    public static bool TryCompile(string expression, out CelCondition condition, out string error)
    {
        condition = null!;
        CelProgramDelegate program;
        try
        {
            // The environment's parser is not documented as thread-safe; compiling is rare (bundle load).
            lock (CompileLock)
            {
                program = Environment.Compile(expression);
            }
        }
        catch (Exception e) when (e is CelException or InvalidOperationException or ArgumentException)
        {
            error = "CEL does not compile: " + e.Message;
            return false;
        }

        // The library resolves names only at evaluation: probe once with every variable present and empty.
        try
        {
            var result = program(ProbeVariables());
            if (result is not bool)
            {
                error = $"CEL must evaluate to a boolean, but \"{expression}\" gives {Describe(result)}";
                return false;
            }
        }
        catch (CelUndeclaredReferenceException e)
        {
            error = $"CEL refers to an unknown variable ({e.Message}); available: {string.Join(", ", Variables)}";
            return false;
        }
        catch (Exception e) when (e is CelException or InvalidOperationException or InvalidCastException or ArgumentException or KeyNotFoundException)
        {
            // Errors on empty probe data (a missing args field) are expected; evaluation fails closed at decision time.
        }

        condition = new CelCondition(expression, program);
        error = "";
        return true;
    }

    /// <summary>Evaluates against one decision's variables; exceptions and non-boolean results become errors.</summary>
    public ConditionResult Evaluate(IDictionary<string, object?> variables)
    {
        try
        {
            return _program(variables!) switch
            {
                true => ConditionResult.True,
                false => ConditionResult.False,
                var other => new ConditionResult(false, $"condition gave {Describe(other)}, not a boolean"),
            };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new ConditionResult(false, e.Message);
        }
    }

    private static string Describe(object? value) => value is null ? "null" : $"a {value.GetType().Name} ({value})";

    private static Dictionary<string, object?> ProbeVariables() => new()
    {
        ["agent"] = new Dictionary<string, object?> { ["id"] = "", ["tenant"] = "", ["org"] = "", ["scopes"] = new List<object?>() },
        ["tool"] = "",
        ["args"] = new Dictionary<string, object?>(),
        ["request"] = new Dictionary<string, object?> { ["method"] = "", ["host"] = "", ["path"] = "", ["headers"] = new Dictionary<string, object?>() },
        ["cost"] = 0.0,
        ["budget"] = new Dictionary<string, object?> { ["spent"] = 0.0, ["limit"] = 0.0, ["spentToday"] = 0.0, ["spentThisMonth"] = 0.0, ["daily"] = 0.0, ["monthly"] = 0.0 },
        ["region"] = "",
        ["now"] = DateTimeOffset.UnixEpoch,
    };
}
