using System.Text.Json;
using Aegis.Policy.Decisions;
using Aegis.Policy.Values;

namespace Aegis.Decision.Audit;

/// <summary>What the audit log records about one decision; serialized by the log's writer thread, not the caller.</summary>
public sealed record AuditEntry(
    DateTimeOffset Time,
    string DecisionId,
    string? Tenant,
    string? AgentId,
    string? Tool,
    string? Method,
    string? Host,
    string? Path,
    string Effect,
    string Reason,
    string? Policy,
    string? Rule,
    string? Revision,
    decimal? Cost,
    string? Message,
    int Redactions,
    IReadOnlyList<ShadowResult> Shadow)
{
    /// <summary>Writes the fields (the line's seq and prev come first, from the log).</summary>
    public void WriteFields(Utf8JsonWriter w)
    {
        w.WriteString("time", Time);
        w.WriteString("decisionId", DecisionId);
        Optional(w, "tenant", Tenant);
        Optional(w, "agentId", AgentId);
        Optional(w, "tool", Tool);
        Optional(w, "method", Method);
        Optional(w, "host", Host);
        Optional(w, "path", Path);
        w.WriteString("effect", Effect);
        w.WriteString("reason", Reason);
        Optional(w, "policy", Policy);
        Optional(w, "rule", Rule);
        Optional(w, "revision", Revision);
        Optional(w, "cost", Cost is { } c ? Money.Format(c) : null);
        Optional(w, "message", Message);
        w.WriteNumber("redactions", Redactions);
        w.WriteStartArray("shadow");
        foreach (var s in Shadow)
        {
            w.WriteStartObject();
            w.WriteString("policy", s.Policy);
            Optional(w, "rule", s.Rule);
            w.WriteString("effect", DecisionJson.EffectName(s.Effect));
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void Optional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }
}
