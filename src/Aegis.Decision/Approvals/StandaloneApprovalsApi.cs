using System.Globalization;
using System.Text.Json;
using Aegis.Decision.Api;
using Aegis.Policy.Values;

namespace Aegis.Decision.Approvals;

/// <summary>
/// The standalone desk over HTTP (:8181), for <c>aegis approvals list|approve|deny --server</c> and the console:
/// <c>GET /v1/approvals</c>, <c>GET /v1/approvals/{name}</c>, <c>POST /v1/approvals/{name}/approve</c>
/// (<c>{"reason", "count", "within": "10m"}</c>) and <c>.../deny</c>. Every call needs the admin credential.
/// </summary>
public static class StandaloneApprovalsApi
{
    /// <summary>Who decided, as recorded: the holder of the admin credential of this server.</summary>
    public const string LocalAdmin = "local-admin";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/approvals", ListAsync);
        app.MapGet("/v1/approvals/{name}", GetAsync);
        app.MapPost("/v1/approvals/{name}/approve", ApproveAsync);
        app.MapPost("/v1/approvals/{name}/deny", DenyAsync);
    }

    private static async Task<IResult> ListAsync(HttpRequest http, StandaloneApprovalDesk desk, AdminCredential admin, CancellationToken cancellationToken)
    {
        if (Unauthorized(http, admin) is { } refused)
        {
            return refused;
        }

        var list = new List<Dictionary<string, object?>>();
        foreach (var approval in desk.List())
        {
            list.Add(await DescribeAsync(approval, desk, cancellationToken).ConfigureAwait(false));
        }

        return Results.Json(new Dictionary<string, object> { ["approvals"] = list });
    }

    private static async Task<IResult> GetAsync(string name, HttpRequest http, StandaloneApprovalDesk desk, AdminCredential admin, CancellationToken cancellationToken) =>
        Unauthorized(http, admin) ?? (desk.Get(name) is { } approval
            ? Results.Json(await DescribeAsync(approval, desk, cancellationToken).ConfigureAwait(false))
            : Problem(404, "approval_not_found", $"no approval request \"{name}\""));

    private static async Task<IResult> ApproveAsync(string name, HttpRequest http, StandaloneApprovalDesk desk, AdminCredential admin, CancellationToken cancellationToken)
    {
        if (Unauthorized(http, admin) is { } refused)
        {
            return refused;
        }

        var (body, problem) = await BodyAsync(http, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var count = 1;
        TimeSpan? within = null;
        if (body.TryGetProperty("count", out var c) && (c.ValueKind != JsonValueKind.Number || !c.TryGetInt32(out count)))
        {
            return Problem(400, "request_malformed", "count: must be a whole number");
        }

        if (body.TryGetProperty("within", out var w))
        {
            if (w.ValueKind != JsonValueKind.String || !GoDuration.TryParse(w.GetString(), out var window, out var error))
            {
                return Problem(400, "request_malformed", "within: must be a duration such as \"10m\"");
            }

            within = window;
        }

        var decision = await desk.ApproveAsync(name, LocalAdmin, Reason(body), count, within, cancellationToken).ConfigureAwait(false);
        return await AnswerAsync(decision, desk, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IResult> DenyAsync(string name, HttpRequest http, StandaloneApprovalDesk desk, AdminCredential admin, CancellationToken cancellationToken)
    {
        if (Unauthorized(http, admin) is { } refused)
        {
            return refused;
        }

        var (body, problem) = await BodyAsync(http, cancellationToken).ConfigureAwait(false);
        return problem ?? await AnswerAsync(desk.Deny(name, LocalAdmin, Reason(body)), desk, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IResult> AnswerAsync(DeskDecision decision, StandaloneApprovalDesk desk, CancellationToken cancellationToken) =>
        decision.Error is { } error
            ? Problem(decision.Status, decision.Status == 404 ? "approval_not_found" : decision.Status == 409 ? "approval_not_pending" : "request_malformed", error)
            : Results.Json(await DescribeAsync(decision.Approval!, desk, cancellationToken).ConfigureAwait(false));

    private static IResult? Unauthorized(HttpRequest http, AdminCredential admin) =>
        admin.Accepts(http.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? auth[7..].Trim() : null)
            ? null
            : Problem(401, "admin_unauthenticated", "the approvals desk takes the admin credential (authorization: Bearer, the token in .aegis/admin-token)");

    private static async Task<(JsonElement Body, IResult? Problem)> BodyAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        if (http.ContentLength is 0 or null && !http.Headers.ContainsKey("transfer-encoding"))
        {
            return (default, null);
        }

        try
        {
            using var document = await JsonDocument.ParseAsync(http.Body, cancellationToken: cancellationToken).ConfigureAwait(false);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? (document.RootElement.Clone(), null)
                : (default, Problem(400, "request_malformed", "the body must be a JSON object"));
        }
        catch (JsonException e)
        {
            return (default, Problem(400, "request_malformed", "the body is not JSON: " + e.Message));
        }
    }

    private static string? Reason(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;

    private static async Task<Dictionary<string, object?>> DescribeAsync(DeskApproval approval, StandaloneApprovalDesk desk, CancellationToken cancellationToken) => new()
    {
        ["name"] = approval.Name,
        ["phase"] = approval.State.ToString(),
        ["tenant"] = approval.Key.Tenant,
        ["agentId"] = approval.Key.AgentId,
        ["tool"] = approval.Key.Tool,
        ["argsDigest"] = approval.Key.ArgsDigest,
        ["argsPreview"] = approval.ArgsPreview,
        ["policy"] = approval.Key.Policy,
        ["rule"] = approval.Key.Rule,
        ["approvers"] = approval.Approvers,
        ["maxBatch"] = approval.MaxBatch,
        ["createdAt"] = Format(approval.CreatedAt),
        ["expiresAt"] = Format(approval.ExpiresAt),
        ["decidedBy"] = approval.DecidedBy,
        ["decidedAt"] = approval.DecidedAt is { } at ? Format(at) : null,
        ["reason"] = approval.Reason,
        ["granted"] = approval.Granted,
        ["remaining"] = await desk.RemainingAsync(approval, cancellationToken).ConfigureAwait(false),
        ["grantExpiresAt"] = approval.GrantExpiresAt is { } g ? Format(g) : null,
    };

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static IResult Problem(int status, string reason, string message) =>
        Results.Json(new Dictionary<string, string> { ["reason"] = reason, ["message"] = message }, statusCode: status);
}
