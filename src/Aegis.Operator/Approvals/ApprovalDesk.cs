using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Identity;
using Aegis.Policy.Redaction;
using Aegis.Policy.Resources;
using Aegis.Policy.Signing;
using Aegis.Policy.Values;
using k8s;
using k8s.Autorest;

namespace Aegis.Operator.Approvals;

/// <summary>
/// The agent-facing approvals API: <c>POST /v1/approvals</c> files (or joins) the ApprovalRequest for a call, and
/// <c>GET /v1/approvals/{name}</c> returns its state and, once approved, the override token. Both authenticate with
/// the agent's own token, verified against the operator's JWKS; an agent only ever sees its own requests.
/// </summary>
public sealed partial class ApprovalDesk(
    IKubernetes client,
    Func<JsonWebKeySet> keys,
    TokenExpectations expected,
    ApprovalRules rules,
    OverrideTokens overrides,
    Func<IReadOnlyList<ApprovalRequest>> cached,
    ApprovalSettings settings,
    TimeProvider time,
    ILogger<ApprovalDesk> logger)
{
    /// <summary>Longest redacted argument preview stored and shown to approvers.</summary>
    public const int PreviewLength = 1_000;

    private static readonly Redactor Preview = new(Detectors.Names.Select(n => Detectors.Create(n, null)));

    public void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/approvals", FileAsync);
        app.MapGet("/v1/approvals/{name}", FetchAsync);
    }

    private async Task<IResult> FileAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (Authenticate(request) is not { } agent)
        {
            return Refuse(HttpStatusCode.Unauthorized, "token_invalid", "a valid agent token is required (Authorization: Bearer)");
        }

        if (agent.SingleUse)
        {
            return Refuse(HttpStatusCode.Forbidden, "token_single_use", "an override token cannot file approval requests");
        }

        JsonObject? body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken).ConfigureAwait(false) as JsonObject;
        }
        catch (JsonException e)
        {
            return Refuse(HttpStatusCode.BadRequest, "request_malformed", "the body is not JSON: " + e.Message);
        }

        if (body?["tool"] is not JsonValue toolValue || toolValue.GetValueKind() != JsonValueKind.String || toolValue.GetValue<string>() is not { Length: > 0 } tool)
        {
            return Refuse(HttpStatusCode.BadRequest, "request_malformed", "field \"tool\": a non-empty string is required");
        }

        if (body["policy"] is not JsonValue policyValue || policyValue.GetValueKind() != JsonValueKind.String)
        {
            return Refuse(HttpStatusCode.BadRequest, "request_malformed", "field \"policy\": namespace/name of the policy or budget is required");
        }

        var ruleName = body["rule"] is JsonValue r && r.GetValueKind() == JsonValueKind.String ? r.GetValue<string>() : null;
        if (rules.Find(agent.Tenant, agent.AgentId, tool, policyValue.GetValue<string>(), ruleName, out var ruleError) is not { } rule)
        {
            return Refuse(HttpStatusCode.Forbidden, "approval_rule_invalid", ruleError);
        }

        using var args = JsonDocument.Parse(body["args"]?.ToJsonString() ?? "{}");
        var digest = AgentTokens.ArgsDigest(args.RootElement);
        var key = ApprovalObjects.Key(agent.Tenant, agent.AgentId, tool, digest);
        var now = time.GetUtcNow();
        for (var round = 0; round < 5; round++)
        {
            var existing = await ListAsync(rule.Namespace, key, cancellationToken).ConfigureAwait(false);
            if (existing.FirstOrDefault(e => e.Status?.Phase is null or ApprovalPhase.Pending && ApprovalObjects.Time(e.Spec.ExpiresAt) > now) is { } pending)
            {
                return Results.Json(Describe(pending, coalesced: true), statusCode: StatusCodes.Status200OK);
            }

            var name = ApprovalObjects.Name(key, existing.Select(e => ApprovalObjects.Attempt(e.Metadata.Name)).DefaultIfEmpty(0).Max() + 1);
            var ttl = GoDuration.TryParse(rule.Approval.Ttl ?? "15m", out var t, out _) ? t : TimeSpan.FromMinutes(15);
            var spec = new JsonObject
            {
                ["tenant"] = agent.Tenant,
                ["agentId"] = agent.AgentId,
                ["tool"] = tool,
                ["argsDigest"] = digest,
                ["argsPreview"] = PreviewOf(args.RootElement),
                ["policy"] = rule.Policy,
                ["rule"] = rule.Rule,
                ["approvers"] = new JsonArray([.. rule.Approval.Approvers.Select(a => JsonValue.Create(a))]),
                ["expiresAt"] = ApprovalObjects.Format(now + ttl),
                ["channel"] = rule.Approval.Channel ?? settings.DefaultChannel,
            };
            if (rule.Approval.Escalation is { } escalation)
            {
                spec["escalation"] = new JsonObject { ["after"] = escalation.After, ["approvers"] = new JsonArray([.. escalation.Approvers.Select(a => JsonValue.Create(a))]) };
            }

            var json = new JsonObject
            {
                ["apiVersion"] = $"{AegisObject.Group}/{AegisObject.Version}",
                ["kind"] = ApprovalRequest.KindName,
                ["metadata"] = new JsonObject
                {
                    ["name"] = name,
                    ["namespace"] = rule.Namespace,
                    ["labels"] = new JsonObject { [ApprovalObjects.KeyLabel] = key, ["aegis.dev/tenant"] = agent.Tenant },
                },
                ["spec"] = RemoveNulls(spec),
            };
            try
            {
                var stored = await client.CustomObjects.CreateNamespacedCustomObjectAsync(json, AegisObject.Group, AegisObject.Version, rule.Namespace, ApprovalObjects.Plural,
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                LogFiled(logger, rule.Namespace, name, agent.Tenant, agent.AgentId, tool, rule.Policy, rule.Rule);
                var filed = ApprovalObjects.Load(JsonNode.Parse(((JsonElement)stored).GetRawText())!.AsObject(), out var loadError)
                    ?? throw new InvalidOperationException("the API server returned an ApprovalRequest that does not load: " + loadError);
                return Results.Json(Describe(filed, coalesced: false), statusCode: StatusCodes.Status201Created);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // Another replica (or decision server) filed the same call at the same moment: join it on the next round.
            }
        }

        return Refuse(HttpStatusCode.ServiceUnavailable, "approval_conflict", "could not file the approval request after repeated conflicts; retry");
    }

    private async Task<IResult> FetchAsync(string name, HttpRequest request, CancellationToken cancellationToken)
    {
        if (Authenticate(request) is not { } agent)
        {
            return Refuse(HttpStatusCode.Unauthorized, "token_invalid", "a valid agent token is required (Authorization: Bearer)");
        }

        var matches = cached().Where(o => o.Metadata.Name == name && ApprovalObjects.Validate(o, null) is null).ToList();
        if (matches.Count == 0)
        {
            return Refuse(HttpStatusCode.NotFound, "approval_not_found", $"no ApprovalRequest \"{name}\"");
        }

        if (matches.FirstOrDefault(m => m.Spec.Tenant == agent.Tenant && m.Spec.AgentId == agent.AgentId) is not { } mine)
        {
            return Refuse(HttpStatusCode.Forbidden, "approval_not_yours", $"ApprovalRequest \"{name}\" was filed by another agent");
        }

        var description = Describe(mine, coalesced: null);
        var now = time.GetUtcNow();
        switch (mine.Status?.Phase ?? ApprovalPhase.Pending)
        {
            case ApprovalPhase.Pending:
                return Results.Json(description, statusCode: StatusCodes.Status202Accepted);
            case ApprovalPhase.Approved:
                // The controller settles decidedAt before a token can exist, so every replica mints the same one.
                if (ApprovalObjects.Time(mine.Status!.DecidedAt) is not { } decidedAt || decidedAt > now + AgentTokens.Skew)
                {
                    return Results.Json(description, statusCode: StatusCodes.Status202Accepted);
                }

                if (await overrides.MintAsync(mine, decidedAt, now, cancellationToken).ConfigureAwait(false) is not { } grant)
                {
                    description["reason"] = "override_expired";
                    description["message"] = "the approval's override token has expired; the call needs a new approval";
                    return Results.Json(description, statusCode: StatusCodes.Status410Gone);
                }

                description["token"] = grant.Token;
                description["tokenExpiresAt"] = ApprovalObjects.Format(grant.ExpiresAt);
                return Results.Json(description);
            default:
                return Results.Json(description);
        }
    }

    private AgentToken? Authenticate(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? AgentTokens.Verify(header["Bearer ".Length..].Trim(), keys(), time.GetUtcNow(), expected).Token
            : null;
    }

    private async Task<List<ApprovalRequest>> ListAsync(string ns, string key, CancellationToken cancellationToken)
    {
        // The API server, not the cache: a request filed a moment ago must be found, or the next call would file another.
        var list = await client.CustomObjects.ListNamespacedCustomObjectAsync(AegisObject.Group, AegisObject.Version, ns, ApprovalObjects.Plural,
            labelSelector: $"{ApprovalObjects.KeyLabel}={key}", cancellationToken: cancellationToken).ConfigureAwait(false);
        var items = JsonNode.Parse(((JsonElement)list).GetRawText())?["items"] as JsonArray ?? [];
        return [.. items.OfType<JsonObject>().Select(o => ApprovalObjects.Load(o, out _)).OfType<ApprovalRequest>()];
    }

    private static JsonObject RemoveNulls(JsonObject json)
    {
        foreach (var name in json.Where(p => p.Value is null).Select(p => p.Key).ToList())
        {
            json.Remove(name);
        }

        return json;
    }

    private static string PreviewOf(JsonElement args)
    {
        var text = Preview.Redact(args, "args", [])?.ToJsonString() ?? "{}";
        return text.Length <= PreviewLength ? text : text[..(PreviewLength - 1)] + "…";
    }

    private static JsonObject Describe(ApprovalRequest request, bool? coalesced)
    {
        var json = new JsonObject
        {
            ["name"] = request.Metadata.Name,
            ["namespace"] = request.Metadata.Namespace,
            ["phase"] = (request.Status?.Phase ?? ApprovalPhase.Pending).ToString(),
            ["expiresAt"] = request.Spec.ExpiresAt,
            ["policy"] = request.Spec.Policy,
            ["rule"] = request.Spec.Rule,
        };
        if (coalesced is { } c)
        {
            json["coalesced"] = c;
        }

        if (request.Status?.DecidedBy is { } by)
        {
            json["decidedBy"] = by;
            json["decidedAt"] = request.Status.DecidedAt;
        }

        return json;
    }

    private static IResult Refuse(HttpStatusCode status, string reason, string message) =>
        Results.Json(new JsonObject { ["reason"] = reason, ["message"] = message }, statusCode: (int)status);

    [LoggerMessage(Level = LogLevel.Information, Message = "filed ApprovalRequest {Namespace}/{Name} for {Tenant}/{Agent} calling {Tool} ({Policy} rule {Rule})")]
    private static partial void LogFiled(ILogger logger, string @namespace, string name, string tenant, string agent, string tool, string policy, string? rule);
}
