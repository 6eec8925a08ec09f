using System.Text.Json;
using Aegis.Contracts.State;

namespace Aegis.Contracts.Wire;

/// <summary>
/// The body of <c>POST /v1/revocations</c> (operator, and standalone decision server):
/// <c>{"jti": J, "tenant"?: T, "reason"?: R}</c> or <c>{"agent_id": A, "tenant": T, "reason"?: R}</c>.
/// </summary>
public static class TokenRevocationRequest
{
    /// <summary>The path both servers serve.</summary>
    public const string Path = "/v1/revocations";

    private const int MaxField = 253;

    /// <summary>
    /// Reads a request into a revocation made at <paramref name="now"/> by <paramref name="revokedBy"/>, kept for
    /// <paramref name="keepFor"/> (the longest a covered token can still verify); false with the field and reason.
    /// </summary>
    public static bool TryRead(JsonElement body, DateTimeOffset now, TimeSpan keepFor, string revokedBy, out TokenRevocation revocation, out string error)
    {
        revocation = null!;
        if (body.ValueKind != JsonValueKind.Object)
        {
            error = "the body must be a JSON object with jti, or agent_id and tenant";
            return false;
        }

        if (!TryField(body, "jti", out var jti, out error) || !TryField(body, "tenant", out var tenant, out error)
            || !TryField(body, "agent_id", out var agent, out error) || !TryField(body, "reason", out var reason, out error, maxLength: 1024))
        {
            return false;
        }

        if ((jti is null) == (agent is null))
        {
            error = "give exactly one of jti and agent_id";
            return false;
        }

        if (agent is not null && tenant is null)
        {
            error = "tenant: required with agent_id (an agent id is unique only within its tenant)";
            return false;
        }

        revocation = new TokenRevocation
        {
            Jti = jti,
            Tenant = tenant,
            AgentId = agent,
            RevokedAt = now,
            ForgetAt = now + keepFor,
            Reason = reason,
            RevokedBy = revokedBy,
        };
        error = "";
        return true;
    }

    /// <summary>The JSON body for a revocation request (what <c>aegis tokens revoke</c> sends).</summary>
    public static string Write(string? jti, string? tenant, string? agentId, string? reason)
    {
        var body = new Dictionary<string, string>(StringComparer.Ordinal);
        Add("jti", jti);
        Add("tenant", tenant);
        Add("agent_id", agentId);
        Add("reason", reason);
        return JsonSerializer.Serialize(body);

        void Add(string name, string? value)
        {
            if (value is not null)
            {
                body[name] = value;
            }
        }
    }

    private static bool TryField(JsonElement body, string name, out string? value, out string error, int maxLength = MaxField)
    {
        value = null;
        error = "";
        if (!body.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.String || element.GetString() is not { Length: > 0 } text || text.Length > maxLength || text.Any(char.IsControl))
        {
            error = $"{name}: must be a string of 1 to {maxLength} characters without control characters";
            return false;
        }

        value = text;
        return true;
    }
}
