using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Contracts.State;
using Aegis.Policy.Resources;

namespace Aegis.Decision.Approvals;

/// <summary>The ApprovalRequest a call was filed under, or why it could not be filed.</summary>
public sealed record ApprovalFiling(string? Name, string? Error)
{
    /// <summary>A named reason to refuse the call outright instead of asking for approval (approval_backlog_full).</summary>
    public string? Refusal { get; init; }
}

/// <summary>
/// A call that needs approval, as the decision server knows it: who, which tool with which arguments (and their
/// digest), the rule that asked, and that rule's approval (approvers, TTL, batch limit) from the verified bundle.
/// </summary>
public sealed record ApprovalCall
{
    public required ApprovalKey Key { get; init; }
    public required JsonElement Args { get; init; }
    public required ApprovalSpec Approval { get; init; }

    /// <summary>The agent's token, when it sent one (the operator's desk authenticates the agent with it).</summary>
    public string? AgentToken { get; init; }
}

/// <summary>Files an ApprovalRequest for a call that needs one.</summary>
public interface IApprovalFiler
{
    /// <summary>Asks for an ApprovalRequest covering this exact call; never throws for a failed or slow filing.</summary>
    Task<ApprovalFiling> FileAsync(ApprovalCall call, CancellationToken cancellationToken);
}

/// <summary>
/// Files ApprovalRequests with the operator (<c>POST /v1/approvals</c>), authenticated with the agent's own token: the
/// operator verifies it against its JWKS, re-derives approvers from its own copy of the policy and computes the
/// arguments' digest and redacted preview itself, so nothing the caller claims is trusted. The call is bounded by
/// <paramref name="timeout"/> because it sits on the decision path; a failure leaves the call refused.
/// </summary>
public sealed class OperatorApprovals(HttpClient http, Uri operatorUrl, TimeSpan timeout) : IApprovalFiler
{
    public async Task<ApprovalFiling> FileAsync(ApprovalCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.AgentToken is not { } agentToken)
        {
            return new ApprovalFiling(null, "filing with the operator needs the agent's token (x-aegis-token)");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var body = new JsonObject
        {
            ["tool"] = call.Key.Tool,
            ["args"] = JsonNode.Parse(call.Args.GetRawText()),
            ["policy"] = call.Key.Policy,
            ["rule"] = call.Key.Rule,
        };
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(operatorUrl, "v1/approvals")) { Content = JsonContent.Create(body) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", agentToken);
            using var response = await http.SendAsync(request, deadline.Token).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false);
            JsonNode? json = null;
            try
            {
                json = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                // Not JSON: reported below with the status code.
            }

            if (response.IsSuccessStatusCode && json?["name"]?.GetValue<string>() is { Length: > 0 } name)
            {
                return new ApprovalFiling(name, null);
            }

            return new ApprovalFiling(null, $"the operator answered {(int)response.StatusCode}: {json?["message"]?.ToString() ?? text}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ApprovalFiling(null, $"the operator did not answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch (HttpRequestException e)
        {
            return new ApprovalFiling(null, "the operator is unreachable: " + e.Message);
        }
    }
}
