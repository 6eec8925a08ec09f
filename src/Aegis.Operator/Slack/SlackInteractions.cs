using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Operator.Approvals;
using Aegis.Policy.Resources;
using k8s;
using k8s.Autorest;
using Microsoft.AspNetCore.WebUtilities;

namespace Aegis.Operator.Slack;

/// <summary>
/// <c>POST /slack/interactions</c>: Approve / Deny clicks. The signature is checked on the raw bytes before anything
/// else is read; then the clicker must be one of the request's approvers, and the decision is written to the status
/// subresource on the version that was read. Slack wants an answer within 3 s, so updating the message is left to
/// the <see cref="ApprovalController"/>, which reacts to the status change as it does to <c>aegis approve</c>.
/// </summary>
public sealed partial class SlackInteractions(IKubernetes client, string signingSecret, Approvers approvers, HttpClient http, Uri responseUrls, TimeProvider time, ILogger<SlackInteractions> logger)
{
    /// <summary>Larger bodies are refused unread; a block_actions payload is a few kilobytes.</summary>
    public const int MaxBody = 256 * 1024;

    public void Map(IEndpointRouteBuilder app) => app.MapPost("/slack/interactions", HandleAsync);

    private async Task<IResult> HandleAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBody)
        {
            return Results.Text("body too large", statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (buffer.Length > MaxBody)
        {
            return Results.Text("body too large", statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        var body = buffer.ToArray();
        if (SlackSignature.Check(signingSecret, request.Headers["X-Slack-Request-Timestamp"], request.Headers["X-Slack-Signature"], body, time.GetUtcNow()) is { } refusal)
        {
            LogRefused(logger, refusal);
            return Results.Text("invalid signature: " + refusal, statusCode: StatusCodes.Status401Unauthorized);
        }

        if (Parse(body, out var error) is not { } click)
        {
            return Results.Text("bad interaction payload: " + error, statusCode: StatusCodes.Status400BadRequest);
        }

        if (click.Action is null)
        {
            // Some other block's interaction; nothing to do, but Slack wants a 200.
            return Results.Ok();
        }

        var message = await DecideAsync(click, cancellationToken).ConfigureAwait(false);

        // Slack ignores the body of a block_actions answer; the clicker hears back through response_url, after the
        // 200, so a slow Slack never delays the acknowledgement.
        if (click.ResponseUrl is { } url && url.AbsoluteUri.StartsWith(responseUrls.AbsoluteUri, StringComparison.Ordinal))
        {
            _ = Task.Run(() => RespondAsync(url, message), CancellationToken.None);
        }

        return Results.Ok();
    }

    private async Task RespondAsync(Uri url, string message)
    {
        try
        {
            using var content = new StringContent(new JsonObject { ["response_type"] = "ephemeral", ["replace_original"] = false, ["text"] = message }.ToJsonString(),
                Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(url, content).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                LogResponseFailed(logger, $"HTTP {(int)response.StatusCode}");
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            LogResponseFailed(logger, e.Message);
        }
    }

    private async Task<string> DecideAsync(Click click, CancellationToken cancellationToken)
    {
        // A conflict means the object moved on between read and write (the operator recorded the Slack message, or
        // someone decided): read again and judge the new state, a few times at most.
        for (var attempt = 0; ; attempt++)
        {
            if (await TryDecideAsync(click, cancellationToken).ConfigureAwait(false) is { } answer)
            {
                return answer;
            }

            if (attempt == 3)
            {
                return "The request kept changing while deciding; try again.";
            }
        }
    }

    private async Task<string?> TryDecideAsync(Click click, CancellationToken cancellationToken)
    {
        var (ns, name) = click.Request;
        JsonObject json;
        try
        {
            var found = await client.CustomObjects.GetNamespacedCustomObjectAsync(AegisObject.Group, AegisObject.Version, ns, ApprovalObjects.Plural, name, cancellationToken).ConfigureAwait(false);
            json = JsonNode.Parse(((JsonElement)found).GetRawText())!.AsObject();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return $"ApprovalRequest {ns}/{name} no longer exists.";
        }

        if (ApprovalObjects.Load(json, out var loadError) is not { } approval)
        {
            return $"ApprovalRequest {ns}/{name} is invalid: {loadError}";
        }

        var principal = "slack:" + click.UserId;
        var phase = approval.Status?.Phase ?? ApprovalPhase.Pending;
        var now = time.GetUtcNow();
        if (phase != ApprovalPhase.Pending)
        {
            return $"Already {phase.ToString().ToLowerInvariant()}{(approval.Status?.DecidedBy is { } by ? " by " + ApprovalMessages.Mention(by) : "")}.";
        }

        if (ApprovalObjects.Time(approval.Spec.ExpiresAt) is not { } expires || now >= expires)
        {
            return "This request has expired.";
        }

        if (!approvers.Allows(ApprovalController.Deciders(approval), principal))
        {
            LogNotApprover(logger, principal, ns, name);
            return "You are not an approver of this request.";
        }

        var approve = click.Action == ApprovalMessages.ApproveAction;
        var outcome = approve ? ApprovalPhase.Approved : ApprovalPhase.Denied;
        try
        {
            await ApprovalObjects.PatchStatusAsync(client, ns, name,
                ApprovalObjects.Decision(outcome, principal, now, $"{(approve ? "approved" : "denied")} in Slack by {click.UserName ?? click.UserId}"),
                approval.Metadata.ResourceVersion, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }

        LogDecided(logger, ns, name, outcome, principal);
        return $"{outcome} {ns}/{name}.";
    }

    /// <summary>What a block_actions payload asks: the clicking user and the Aegis button (null Action for others).</summary>
    internal sealed record Click(string UserId, string? UserName, string? Action, (string Namespace, string Name) Request, Uri? ResponseUrl = null);

    internal static Click? Parse(byte[] body, out string error)
    {
        var form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(body));
        if (!form.TryGetValue("payload", out var payload) || payload.Count != 1)
        {
            error = "the form has no single \"payload\" field";
            return null;
        }

        JsonNode? json;
        try
        {
            // A member named twice would throw on first access instead of here.
            json = JsonNode.Parse(payload[0]!, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            error = "payload is not JSON: " + e.Message;
            return null;
        }

        if (json is not JsonObject)
        {
            error = "payload is not a JSON object";
            return null;
        }

        if (json["type"]?.ToString() != "block_actions")
        {
            error = $"payload.type \"{json["type"]}\" is not block_actions";
            return null;
        }

        if ((json["user"] as JsonObject)?["id"]?.ToString() is not { Length: > 0 } user)
        {
            error = "payload.user.id is missing";
            return null;
        }

        var action = (json["actions"] as JsonArray)?.OfType<JsonObject>()
            .FirstOrDefault(a => a["action_id"]?.ToString() is ApprovalMessages.ApproveAction or ApprovalMessages.DenyAction);
        error = "";
        if (action is null)
        {
            return new Click(user, null, null, ("", ""));
        }

        if (action["value"]?.ToString().Split('/') is not [{ Length: > 0 } ns, { Length: > 0 } name])
        {
            error = "payload.actions[].value is not namespace/name";
            return null;
        }

        var responseUrl = Uri.TryCreate(json["response_url"]?.ToString(), UriKind.Absolute, out var u) ? u : null;
        return new Click(user, json["user"]!["username"]?.ToString(), action["action_id"]!.ToString(), (ns, name), responseUrl);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "answering a Slack click through its response_url failed: {Reason}")]
    private static partial void LogResponseFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "refused a Slack interaction: {Reason}")]
    private static partial void LogRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Principal} is not an approver of ApprovalRequest {Namespace}/{Name}")]
    private static partial void LogNotApprover(ILogger logger, string principal, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "ApprovalRequest {Namespace}/{Name} {Phase} by {Principal} in Slack")]
    private static partial void LogDecided(ILogger logger, string @namespace, string name, ApprovalPhase phase, string principal);
}
