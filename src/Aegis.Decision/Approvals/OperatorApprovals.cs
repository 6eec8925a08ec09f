using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.Decision.Approvals;

/// <summary>The ApprovalRequest a call was filed under, or why it could not be filed.</summary>
public sealed record ApprovalFiling(string? Name, string? Error);

/// <summary>Files an ApprovalRequest for a call that needs one.</summary>
public interface IApprovalFiler
{
    /// <summary>Asks for an ApprovalRequest covering this exact call; never throws for a failed or slow filing.</summary>
    Task<ApprovalFiling> FileAsync(string agentToken, string tool, JsonElement? args, string? policy, string? rule, CancellationToken cancellationToken);
}

/// <summary>
/// Files ApprovalRequests with the operator (<c>POST /v1/approvals</c>), authenticated with the agent's own token: the
/// operator verifies it against its JWKS, re-derives approvers from its own copy of the policy and computes the
/// arguments' digest and redacted preview itself, so nothing the caller claims is trusted. The call is bounded by
/// <paramref name="timeout"/> because it sits on the decision path; a failure leaves the call refused.
/// </summary>
public sealed class OperatorApprovals(HttpClient http, Uri operatorUrl, TimeSpan timeout) : IApprovalFiler
{
    public async Task<ApprovalFiling> FileAsync(string agentToken, string tool, JsonElement? args, string? policy, string? rule, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var body = new JsonObject
        {
            ["tool"] = tool,
            ["args"] = args is { } a ? JsonNode.Parse(a.GetRawText()) : new JsonObject(),
            ["policy"] = policy,
            ["rule"] = rule,
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
