using Aegis.Policy.Conditions;
using Aegis.Policy.Conditions.Runtime;

namespace Aegis.Policy.Decisions;

/// <summary>
/// The CEL variables of one decision, each built on first use: a condition that reads only <c>args</c> never
/// pays for <c>request</c> or <c>budget</c>, and <c>args</c> is read in place from the input's JSON.
/// </summary>
internal sealed class DecisionScope(DecisionInput input, PolicySet set) : CelScope
{
    private readonly object?[] _values = new object?[CelCondition.Variables.Length];
    private int _built;

    public override object? Variable(int index)
    {
        var bit = 1 << index;
        if ((_built & bit) == 0)
        {
            _values[index] = Build(index);
            _built |= bit;
        }

        return _values[index];
    }

    private object? Build(int index)
    {
        switch (CelCondition.Variables[index])
        {
            case "agent":
                return new Dictionary<string, object?>(4, StringComparer.Ordinal)
                {
                    ["id"] = input.Agent.Id,
                    ["tenant"] = input.Tenant,
                    ["org"] = input.Agent.Org ?? "",
                    ["scopes"] = (input.Agent.Scopes ?? []).Cast<object?>().ToList(),
                };
            case "tool":
                return input.Tool ?? "";
            case "args":
                return input.Args is { } args ? args : new Dictionary<string, object?>();
            case "request":
                var request = input.Request;
                return new Dictionary<string, object?>(4, StringComparer.Ordinal)
                {
                    ["method"] = request?.Method ?? "",
                    ["host"] = request?.Host ?? "",
                    ["path"] = request?.Path ?? "",
                    ["headers"] = request?.Headers?.ToDictionary(h => h.Key.ToLowerInvariant(), h => (object?)h.Value, StringComparer.Ordinal) ?? [],
                };
            case "cost":
                return (double)(input.Cost ?? 0m);
            case "budget":
                var budget = set.ViewFor(input.Agent.Id).Budget;
                return new Dictionary<string, object?>(6, StringComparer.Ordinal)
                {
                    ["spent"] = (double)input.Budget.SpentToday,
                    ["limit"] = (double)(budget?.Daily ?? budget?.Monthly ?? 0m),
                    ["spentToday"] = (double)input.Budget.SpentToday,
                    ["spentThisMonth"] = (double)input.Budget.SpentThisMonth,
                    ["daily"] = (double)(budget?.Daily ?? 0m),
                    ["monthly"] = (double)(budget?.Monthly ?? 0m),
                };
            case "region":
                return input.Region ?? "";
            default:
                return CelTimestamp.FromDateTimeOffset(input.Now);
        }
    }
}
