using System.Globalization;
using System.Text.Json;
using Aegis.Policy.Values;

namespace Aegis.Policy.Decisions;

/// <summary>The calling agent as established from its verified token.</summary>
public sealed record AgentIdentity(string Id, string? Org = null, IReadOnlyList<string>? Scopes = null);

/// <summary>An HTTP egress request (host may carry a port; path may carry a query, which matching ignores).</summary>
public sealed record EgressRequest(string Method, string Host, string Path, IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>An LLM API request as read off the wire: the model, its input tokens as counted, and the output tokens it may produce.</summary>
public sealed record LlmRequest(string Model, long InputTokens, long MaxOutputTokens);

/// <summary>The policy (or budget) and rule whose approval was granted.</summary>
public sealed record GrantedApproval(string Policy, string? Rule);

/// <summary>Live spend of the agent, supplied by the caller (the decision server reads it from the budget store).</summary>
public sealed record BudgetState(decimal SpentToday, decimal SpentThisMonth);

/// <summary>Everything a decision depends on. The engine reads nothing else: no clock, no I/O.</summary>
public sealed record DecisionInput
{
    public required string Tenant { get; init; }
    public required AgentIdentity Agent { get; init; }
    public string? Tool { get; init; }

    /// <summary>The tool call's JSON arguments (an object), if any.</summary>
    public JsonElement? Args { get; init; }

    public EgressRequest? Request { get; init; }

    /// <summary>The ToolServer (namespace/name) whose traffic this call is, when it was read off the wire.</summary>
    public string? ToolServer { get; init; }

    /// <summary>For calls to an LLM provider: what the request asks for, which the reservation is priced from.</summary>
    public LlmRequest? Llm { get; init; }

    /// <summary>
    /// Protocol traffic that acts on nothing (MCP initialize, ping, notifications, list calls): allowed for an agent
    /// some policy selects, in a region the tenant allows, without rules, budgets or rate limits.
    /// </summary>
    public bool Passthrough { get; init; }

    /// <summary>
    /// A TLS tunnel: only host and port are known. Egress rules match on the host alone, and a rule whose allow
    /// depends on what the tunnel hides (a condition, methods, paths, a sanitize) cannot allow it.
    /// </summary>
    public bool Tunnel { get; init; }

    /// <summary>
    /// The approval a person granted for exactly this call (set by the decision server after it found the grant,
    /// never by the caller): that rule's approval_needed, or that budget's exhaustion, no longer holds the call back.
    /// </summary>
    public GrantedApproval? Granted { get; init; }

    /// <summary>
    /// The caller's cost estimate for this call, in USD. It may only raise the reservation priced from the
    /// ToolServer, never lower it: the agent is not believed about what its calls cost.
    /// </summary>
    public decimal? Cost { get; init; }

    /// <summary>The region the decision server runs in.</summary>
    public string? Region { get; init; }

    public DateTimeOffset Now { get; init; } = DateTimeOffset.UnixEpoch;
    public BudgetState Budget { get; init; } = new(0, 0);

    /// <summary>Parses the JSON form used by <c>aegis eval</c> and <c>POST /v1/decide</c>; errors name the field.</summary>
    public static bool TryParse(JsonElement json, out DecisionInput input, out string error)
    {
        input = null!;
        error = "";
        if (json.ValueKind != JsonValueKind.Object)
        {
            error = "input: must be a JSON object";
            return false;
        }

        try
        {
            var tenant = RequiredString(json, "tenant");
            if (!json.TryGetProperty("agent", out var agentJson) || agentJson.ValueKind != JsonValueKind.Object)
            {
                throw new InputException("agent", "is required and must be an object with an id");
            }

            var agent = new AgentIdentity(
                RequiredString(agentJson, "id", "agent."),
                OptionalString(agentJson, "org", "agent."),
                agentJson.TryGetProperty("scopes", out var scopes) && scopes.ValueKind != JsonValueKind.Null
                    ? StringList(scopes, "agent.scopes")
                    : null);

            EgressRequest? request = null;
            if (json.TryGetProperty("request", out var req) && req.ValueKind != JsonValueKind.Null)
            {
                if (req.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException("request", "must be an object with method, host and path");
                }

                Dictionary<string, string>? headers = null;
                if (req.TryGetProperty("headers", out var h) && h.ValueKind == JsonValueKind.Object)
                {
                    headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                    foreach (var header in h.EnumerateObject())
                    {
                        headers[header.Name] = header.Value.ValueKind == JsonValueKind.String
                            ? header.Value.GetString()!
                            : throw new InputException($"request.headers.{header.Name}", "must be a string");
                    }
                }

                request = new EgressRequest(
                    RequiredString(req, "method", "request.").ToUpperInvariant(),
                    RequiredString(req, "host", "request."),
                    OptionalString(req, "path", "request.") ?? "/",
                    headers);
            }

            // Neither a tool nor a request is allowed: such a call matches no rule, so the default effects decide.
            var tool = OptionalString(json, "tool", "");

            JsonElement? args = null;
            if (json.TryGetProperty("args", out var a) && a.ValueKind != JsonValueKind.Null)
            {
                if (a.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException("args", "must be a JSON object");
                }

                args = a.Clone();
            }

            var now = DateTimeOffset.UnixEpoch;
            if (OptionalString(json, "now", "") is { } nowText
                && !DateTimeOffset.TryParse(nowText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out now))
            {
                throw new InputException("now", $"must be an RFC 3339 time, got \"{nowText}\"");
            }

            var budget = new BudgetState(0, 0);
            if (json.TryGetProperty("budget", out var b) && b.ValueKind == JsonValueKind.Object)
            {
                budget = new BudgetState(OptionalMoney(b, "spentToday", "budget.") ?? 0, OptionalMoney(b, "spentThisMonth", "budget.") ?? 0);
            }

            LlmRequest? llm = null;
            if (json.TryGetProperty("llm", out var l) && l.ValueKind != JsonValueKind.Null)
            {
                if (l.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException("llm", "must be an object with model, inputTokens and maxOutputTokens");
                }

                llm = new LlmRequest(RequiredString(l, "model", "llm."), Count(l, "inputTokens"), Count(l, "maxOutputTokens"));
            }

            input = new DecisionInput
            {
                Tenant = tenant,
                Agent = agent,
                Tool = tool,
                Args = args,
                Request = request,
                ToolServer = OptionalString(json, "toolServer", ""),
                Llm = llm,
                Cost = OptionalMoney(json, "cost", ""),
                Region = OptionalString(json, "region", ""),
                Now = now,
                Budget = budget,
            };
            return true;
        }
        catch (InputException e)
        {
            error = $"input: {e.Field}: {e.Message}";
            return false;
        }
    }

    private static string RequiredString(JsonElement obj, string name, string prefix = "") =>
        OptionalString(obj, name, prefix) is { Length: > 0 } value ? value : throw new InputException(prefix + name, "is required");

    private static string? OptionalString(JsonElement obj, string name, string prefix)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw new InputException(prefix + name, "must be a string");
    }

    private static long Count(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var count) && count >= 0
            ? count
            : throw new InputException("llm." + name, "is required, a whole number of tokens (0 or more)");

    private static decimal? OptionalMoney(JsonElement obj, string name, string prefix)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InputException(prefix + name, "money must be a decimal string such as \"0.25\"");
        }

        return Money.TryParse(value.GetString(), out var amount, out var moneyError) ? amount : throw new InputException(prefix + name, moneyError);
    }

    private static List<string> StringList(JsonElement array, string field)
    {
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new InputException(field, "must be a list of strings");
        }

        return [.. array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new InputException(field, "must be a list of strings"))];
    }

    private sealed class InputException(string field, string message) : Exception(message)
    {
        public string Field { get; } = field;
    }
}
