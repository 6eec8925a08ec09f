using System.Text.Json;
using Aegis.Policy.Audit;
using Aegis.Policy.Decisions;
using Aegis.Policy.Values;

namespace Aegis.Decision.Audit;

/// <summary>A record the audit log appends: its line type and fields (the log writes seq, prev and type first).</summary>
public interface IAuditRecord
{
    /// <summary>The line's <c>type</c> (<see cref="AuditLineType"/>).</summary>
    string Type { get; }

    /// <summary>Writes the fields after seq, prev and type.</summary>
    void WriteFields(Utf8JsonWriter writer);
}

/// <summary>
/// What the audit log records about one decision. It holds only values, never the request's pooled JSON, because the
/// writer serializes it after the caller may have answered (a commit that timed out). Raw arguments appear only when
/// the deciding policy opted in (<c>spec.audit.includeArgs</c>), and then redacted by that policy's redactors.
/// </summary>
public sealed record AuditEntry : IAuditRecord
{
    public string Type => AuditLineType.Decision;
    public required DateTimeOffset Time { get; init; }
    public required string DecisionId { get; init; }

    /// <summary>The W3C trace id of the decision's span, linking the record to the trace.</summary>
    public string? TraceId { get; init; }

    public string? Tenant { get; init; }
    public string? AgentId { get; init; }
    public string? Tool { get; init; }

    /// <summary>Hex sha-256 of the canonical JSON of the arguments (<c>AgentTokens.ArgsDigest</c>); set for tool calls.</summary>
    public string? ArgsDigest { get; init; }

    public string? Method { get; init; }
    public string? Host { get; init; }
    public string? Path { get; init; }
    public required string Effect { get; init; }
    public required string Reason { get; init; }
    public string? Policy { get; init; }
    public string? Rule { get; init; }
    public string? Revision { get; init; }

    /// <summary>The cost the decision was made with (the caller's estimate, else the price).</summary>
    public decimal? Cost { get; init; }

    /// <summary>What was reserved against the agent's budget, when a reservation was made.</summary>
    public decimal? Reserved { get; init; }

    public string? Message { get; init; }
    public int Redactions { get; init; }

    /// <summary>Distinct detectors (or "pattern") that redacted something, in order of first use.</summary>
    public IReadOnlyList<string> RedactionKinds { get; init; } = [];

    public IReadOnlyList<ShadowResult> Shadow { get; init; } = [];

    /// <summary>The arguments as redacted JSON text; only when the deciding policy opted in.</summary>
    public string? Args { get; init; }

    public void WriteFields(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteString("time", Time);
        writer.WriteString("decisionId", DecisionId);
        AuditFields.Optional(writer, "traceId", TraceId);
        AuditFields.Optional(writer, "tenant", Tenant);
        AuditFields.Optional(writer, "agentId", AgentId);
        AuditFields.Optional(writer, "tool", Tool);
        AuditFields.Optional(writer, "argsDigest", ArgsDigest);
        AuditFields.Optional(writer, "method", Method);
        AuditFields.Optional(writer, "host", Host);
        AuditFields.Optional(writer, "path", Path);
        writer.WriteString("effect", Effect);
        writer.WriteString("reason", Reason);
        AuditFields.Optional(writer, "policy", Policy);
        AuditFields.Optional(writer, "rule", Rule);
        AuditFields.Optional(writer, "revision", Revision);
        AuditFields.Optional(writer, "cost", Cost is { } c ? Money.Format(c) : null);
        AuditFields.Optional(writer, "reserved", Reserved is { } r ? Money.Format(r) : null);
        AuditFields.Optional(writer, "message", Message);
        writer.WriteNumber("redactions", Redactions);
        if (RedactionKinds.Count > 0)
        {
            writer.WriteStartArray("redactionKinds");
            foreach (var kind in RedactionKinds)
            {
                writer.WriteStringValue(kind);
            }

            writer.WriteEndArray();
        }

        writer.WriteStartArray("shadow");
        foreach (var s in Shadow)
        {
            writer.WriteStartObject();
            writer.WriteString("policy", s.Policy);
            AuditFields.Optional(writer, "rule", s.Rule);
            writer.WriteString("effect", DecisionJson.EffectName(s.Effect));
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        if (Args is not null)
        {
            writer.WritePropertyName("args");
            writer.WriteRawValue(Args, skipInputValidation: false);
        }
    }
}

/// <summary>"Decision X settled at cost Y": the cost observed after the call (an LLM response's usage), against what was reserved.</summary>
public sealed record AuditSettlement : IAuditRecord
{
    public string Type => AuditLineType.Settlement;
    public required DateTimeOffset Time { get; init; }

    /// <summary>The decision whose call was settled.</summary>
    public required string DecisionId { get; init; }

    public string? TraceId { get; init; }
    public required string Tenant { get; init; }
    public required string AgentId { get; init; }
    public string? Tool { get; init; }

    /// <summary>What the decision reserved.</summary>
    public required decimal Reserved { get; init; }

    /// <summary>What the call really cost.</summary>
    public required decimal Settled { get; init; }

    /// <summary>Where the figure came from, such as "openai.usage: 1200 input, 300 output tokens".</summary>
    public string? Detail { get; init; }

    public void WriteFields(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteString("time", Time);
        writer.WriteString("decisionId", DecisionId);
        AuditFields.Optional(writer, "traceId", TraceId);
        writer.WriteString("tenant", Tenant);
        writer.WriteString("agentId", AgentId);
        AuditFields.Optional(writer, "tool", Tool);
        writer.WriteString("reserved", Money.Format(Reserved));
        writer.WriteString("settled", Money.Format(Settled));
        AuditFields.Optional(writer, "detail", Detail);
    }
}

internal static class AuditFields
{
    public static void Optional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }
}
