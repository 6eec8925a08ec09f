using System.Text.Json;
using Aegis.Policy.Resources;
using Aegis.Policy.Values;

namespace Aegis.Policy.Decisions;

/// <summary>The JSON form of a decision, shared by <c>aegis eval</c> and the decision server's JSON API.</summary>
public static class DecisionJson
{
    /// <summary>Wire name of an effect.</summary>
    public static string EffectName(Effect effect) => effect switch
    {
        Effect.Allow => "allow",
        Effect.Sanitize => "sanitize",
        Effect.ApprovalNeeded => "approval_needed",
        _ => "deny",
    };

    /// <summary>Writes <paramref name="decision"/> as one JSON object.</summary>
    public static void Write(Utf8JsonWriter writer, Decision decision)
    {
        writer.WriteStartObject();
        writer.WriteString("effect", EffectName(decision.Effect));
        writer.WriteString("reason", decision.Reason);
        WriteOptional(writer, "policy", decision.Policy);
        WriteOptional(writer, "rule", decision.Rule);
        WriteOptional(writer, "message", decision.Message);
        writer.WriteString("revision", decision.Revision);
        if (decision.RedactedArgs is { } redacted)
        {
            writer.WritePropertyName("args");
            redacted.WriteTo(writer);
        }
        else if (decision.Args is { } args)
        {
            writer.WritePropertyName("args");
            args.WriteTo(writer);
        }

        writer.WriteStartArray("redactions");
        foreach (var r in decision.Redactions)
        {
            writer.WriteStartObject();
            writer.WriteString("path", r.Path);
            writer.WriteString("detector", r.Detector);
            writer.WriteNumber("count", r.Count);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteStartArray("shadow");
        foreach (var s in decision.Shadow)
        {
            writer.WriteStartObject();
            writer.WriteString("policy", s.Policy);
            WriteOptional(writer, "rule", s.Rule);
            writer.WriteString("effect", EffectName(s.Effect));
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        if (decision.Cost is { } cost)
        {
            writer.WriteString("cost", Money.Format(cost));
        }

        if (decision.Approval is { } approval)
        {
            writer.WriteStartObject("approval");
            writer.WriteStartArray("approvers");
            foreach (var a in approval.Approvers)
            {
                writer.WriteStringValue(a);
            }

            writer.WriteEndArray();
            WriteOptional(writer, "ttl", approval.Ttl ?? "15m");
            WriteOptional(writer, "channel", approval.Channel);
            writer.WriteEndObject();
        }

        if (decision.Budgets.Count > 0)
        {
            writer.WriteStartArray("budgets");
            foreach (var b in decision.Budgets)
            {
                writer.WriteStartObject();
                writer.WriteString("budget", b.Budget);
                WriteOptional(writer, "daily", b.Daily is { } d ? Money.Format(d) : null);
                WriteOptional(writer, "monthly", b.Monthly is { } m ? Money.Format(m) : null);
                writer.WriteString("spentToday", Money.Format(b.SpentToday));
                writer.WriteString("spentThisMonth", Money.Format(b.SpentThisMonth));
                writer.WriteBoolean("exhausted", b.Exhausted);
                writer.WriteString("timeZone", b.TimeZone);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        if (decision.RateLimits.Count > 0)
        {
            writer.WriteStartArray("rateLimits");
            foreach (var l in decision.RateLimits)
            {
                writer.WriteStartObject();
                writer.WriteString("budget", l.Budget);
                writer.WriteNumber("requestsPerMinute", l.RequestsPerMinute);
                writer.WriteNumber("burst", l.Burst);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }

    /// <summary>The decision as an indented JSON string.</summary>
    public static string ToJson(Decision decision, bool indented = true)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            Write(writer, decision);
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteOptional(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }
}
