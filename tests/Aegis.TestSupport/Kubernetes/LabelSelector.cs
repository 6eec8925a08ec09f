using System.Text.Json.Nodes;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>Equality-based label selectors: <c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a</c>, <c>!a</c>, comma-separated.</summary>
internal sealed class LabelSelector
{
    private readonly List<(string Key, string Op, string? Value)> _requirements = [];

    public static LabelSelector Parse(string? text)
    {
        var selector = new LabelSelector();
        foreach (var part in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Contains("!=", StringComparison.Ordinal))
            {
                var kv = part.Split("!=", 2);
                selector._requirements.Add((kv[0], "!=", kv[1]));
            }
            else if (part.Contains('=', StringComparison.Ordinal))
            {
                var kv = part.Split('=', 2);
                selector._requirements.Add((kv[0], "=", kv[1].TrimStart('=')));
            }
            else if (part.StartsWith('!'))
            {
                selector._requirements.Add((part[1..], "!", null));
            }
            else
            {
                selector._requirements.Add((part, "exists", null));
            }
        }

        return selector;
    }

    public bool Matches(JsonObject obj)
    {
        var labels = obj["metadata"]?["labels"] as JsonObject;
        foreach (var (key, op, value) in _requirements)
        {
            var actual = labels?[key]?.ToString();
            var ok = op switch
            {
                "=" => actual == value,
                "!=" => actual != value,
                "!" => actual is null,
                _ => actual is not null,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}
