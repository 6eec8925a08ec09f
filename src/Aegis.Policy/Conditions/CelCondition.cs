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
/// A CEL `when` expression compiled once at bundle load into a tree of evaluator nodes, evaluated per decision
/// without parsing, reflection or exceptions. Immutable and safe to share between threads.
/// </summary>
public sealed class CelCondition
{
    /// <summary>The variables a condition may use, in the index order of <see cref="CelScope.Variable"/>.</summary>
    public static readonly string[] Variables = ["agent", "tool", "args", "request", "cost", "budget", "region", "now"];

    private readonly CelNode _root;
    private readonly int _localSlots;

    private CelCondition(string expression, CelNode root, int localSlots)
    {
        Expression = expression;
        _root = root;
        _localSlots = localSlots;
    }

    /// <summary>The source expression.</summary>
    public string Expression { get; }

    /// <summary>Compiles <paramref name="expression"/>: syntax, known names and functions, and a boolean result.</summary>
    public static bool TryCompile(string expression, out CelCondition condition, out string error)
    {
        condition = null!;
        try
        {
            var (root, slots) = CelParser.Parse(expression, Variables);
            condition = new CelCondition(expression, root, slots);
        }
        catch (CelCompileException e)
        {
            error = $"CEL does not compile at position {e.Position + 1}: {e.Message}";
            return false;
        }

        // A result that is not a boolean with every variable present (a bare `tool`) is a mistake, not a policy.
        var probe = condition._root.Eval(ProbeScope.Instance, condition._localSlots > 0 ? new object?[condition._localSlots] : null);
        if (probe is not (bool or CelError))
        {
            error = $"CEL must evaluate to a boolean, but \"{expression}\" gives a {CelRuntime.TypeName(probe)}";
            condition = null!;
            return false;
        }

        error = "";
        return true;
    }

    /// <summary>Evaluates against one decision's variables; errors and non-boolean results are failures.</summary>
    public ConditionResult Evaluate(CelScope scope)
    {
        var result = _root.Eval(scope, _localSlots > 0 ? new object?[_localSlots] : null);
        return result switch
        {
            true => ConditionResult.True,
            false => ConditionResult.False,
            CelError e => new ConditionResult(false, e.Message),
            var other => new ConditionResult(false, $"condition gave a {CelRuntime.TypeName(other)}, not a boolean"),
        };
    }

    /// <summary>Evaluates against variables given by name (tests and tools).</summary>
    public ConditionResult Evaluate(IReadOnlyDictionary<string, object?> variables) => Evaluate(new DictionaryCelScope(variables));

    /// <summary>Every variable present with an empty value of its type.</summary>
    private sealed class ProbeScope : CelScope
    {
        public static readonly ProbeScope Instance = new();

        private static readonly object?[] Values =
        [
            new Dictionary<string, object?> { ["id"] = "", ["tenant"] = "", ["org"] = "", ["scopes"] = new List<object?>() },
            "",
            new Dictionary<string, object?>(),
            new Dictionary<string, object?> { ["method"] = "", ["host"] = "", ["path"] = "", ["headers"] = new Dictionary<string, object?>() },
            0.0,
            new Dictionary<string, object?> { ["spent"] = 0.0, ["limit"] = 0.0, ["spentToday"] = 0.0, ["spentThisMonth"] = 0.0, ["daily"] = 0.0, ["monthly"] = 0.0 },
            "",
            DateTimeOffset.UnixEpoch,
        ];

        public override object? Variable(int index) => Values[index];
    }
}
