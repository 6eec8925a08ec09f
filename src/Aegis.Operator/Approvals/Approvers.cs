namespace Aegis.Operator.Approvals;

/// <summary>Decides whether a person is one of an ApprovalRequest's approvers, resolving <c>group:NAME</c> through configuration.</summary>
public sealed class Approvers(IReadOnlyDictionary<string, IReadOnlyList<string>> groups)
{
    /// <summary>True when <paramref name="principal"/> (<c>slack:USERID</c>) is listed directly or through a group.</summary>
    public bool Allows(IEnumerable<string> approvers, string principal) =>
        Expand(approvers).Contains(principal, StringComparer.Ordinal);

    /// <summary>Every person the list names, groups replaced by their members; unknown groups name nobody.</summary>
    public IEnumerable<string> Expand(IEnumerable<string> approvers) => approvers.SelectMany(a =>
        a.StartsWith("group:", StringComparison.Ordinal)
            ? groups.TryGetValue(a["group:".Length..], out var members) ? members.Select(Normalize) : []
            : [a]).Distinct(StringComparer.Ordinal);

    /// <summary>Parses <c>NAME=U1,slack:U2</c> (the operator flag) into a group and its members.</summary>
    public static bool TryParseGroup(string text, out string name, out IReadOnlyList<string> members, out string error)
    {
        var parts = text.Split('=', 2);
        name = parts[0].Trim();
        members = parts.Length == 2 ? [.. parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Normalize)] : [];
        error = name.Length == 0 || parts.Length != 2 ? $"\"{text}\" is not NAME=USER[,USER...]"
            : members.Count == 0 ? $"group \"{name}\" has no members"
            : "";
        return error.Length == 0;
    }

    private static string Normalize(string member) => member.Contains(':', StringComparison.Ordinal) ? member : "slack:" + member;
}
