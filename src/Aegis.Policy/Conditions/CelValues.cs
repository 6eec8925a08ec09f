using System.Text.Json;
using Aegis.Policy.Decisions;

namespace Aegis.Policy.Conditions;

/// <summary>Builds the CEL variables of a decision (maps, lists, strings, long/double, bool) from its input.</summary>
public static class CelValues
{
    /// <summary>The variables named in <see cref="CelCondition.Variables"/>.</summary>
    public static Dictionary<string, object?> Variables(DecisionInput input, PolicySet set)
    {
        var budget = set.Budgets.FirstOrDefault(b => b.Agents.IsMatch(input.Agent.Id));
        var request = input.Request;
        return new Dictionary<string, object?>(8, StringComparer.Ordinal)
        {
            ["agent"] = new Dictionary<string, object?>
            {
                ["id"] = input.Agent.Id,
                ["tenant"] = input.Tenant,
                ["org"] = input.Agent.Org ?? "",
                ["scopes"] = (input.Agent.Scopes ?? []).Cast<object?>().ToList(),
            },
            ["tool"] = input.Tool ?? "",
            ["args"] = input.Args is { } args ? FromJson(args) : new Dictionary<string, object?>(),
            ["request"] = new Dictionary<string, object?>
            {
                ["method"] = request?.Method ?? "",
                ["host"] = request?.Host ?? "",
                ["path"] = request?.Path ?? "",
                ["headers"] = request?.Headers?.ToDictionary(h => h.Key.ToLowerInvariant(), h => (object?)h.Value) ?? [],
            },
            ["cost"] = (double)(input.Cost ?? 0m),
            ["budget"] = new Dictionary<string, object?>
            {
                ["spent"] = (double)input.Budget.SpentToday,
                ["limit"] = (double)(budget?.Daily ?? budget?.Monthly ?? 0m),
                ["spentToday"] = (double)input.Budget.SpentToday,
                ["spentThisMonth"] = (double)input.Budget.SpentThisMonth,
                ["daily"] = (double)(budget?.Daily ?? 0m),
                ["monthly"] = (double)(budget?.Monthly ?? 0m),
            },
            ["region"] = input.Region ?? "",
            ["now"] = input.Now,
        };
    }

    /// <summary>Converts JSON to CEL values: integers become long (double when out of range), other numbers double.</summary>
    public static object? FromJson(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => value.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value), StringComparer.Ordinal),
        JsonValueKind.Array => value.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.TryGetInt64(out var l) ? l : value.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
