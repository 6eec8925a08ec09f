using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Contracts.Wire;
using Aegis.Policy.Resources;

namespace Aegis.Decision.Calls;

/// <summary>A refusal as the agent receives it: HTTP status, headers and body.</summary>
public sealed record Refusal(int Status, string Body, IReadOnlyList<KeyValuePair<string, string>> Headers);

/// <summary>
/// Writes a refusal in the protocol of the call it refuses, so the agent's SDK surfaces it: MCP requests get HTTP
/// 200 with a JSON-RPC answer echoing their id (a denied tools/call is a result with <c>isError</c>, which the model
/// reads; limits are JSON-RPC errors with the retry time; REFERENCE.md §9); OpenAI and Anthropic calls get the
/// provider's error body and status (403, 429 with retry-after, 401); anything else the Aegis JSON refusal. Every
/// refusal names the reason, the policy/rule and the decision id.
/// </summary>
public static class Refusals
{
    /// <summary>JSON-RPC error codes Aegis answers MCP requests with (the implementation-defined range -32000..-32019).</summary>
    public const int McpRefused = -32000;

    public const int McpLimited = -32001;
    public const int McpUnauthenticated = -32002;
    public const int McpApprovalRequired = -32003;

    public static Refusal For(DecisionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var headers = new List<KeyValuePair<string, string>>
        {
            new("content-type", "application/json"),
            new(AegisHeaders.DecisionId, outcome.DecisionId),
        };
        if (outcome.Kind == OutcomeKind.ApprovalRequired)
        {
            // x-aegis-approval names the ApprovalRequest to fetch; the rule that asked for it travels separately.
            headers.Add(new(AegisHeaders.ApprovalRule, outcome.Rule is null ? outcome.Policy ?? "" : $"{outcome.Policy}/{outcome.Rule}"));
            if (outcome.ApprovalRequest is { } name)
            {
                headers.Add(new(AegisHeaders.Approval, name));
            }
        }

        if (outcome.RetryAfter is { } wait)
        {
            headers.Add(new("retry-after", RetryAfterSeconds(wait)));
        }

        var call = outcome.Call;
        if (call?.Server?.Protocol == ToolProtocol.Mcp && call.McpId is { } id)
        {
            return new Refusal(200, McpAnswer(outcome, call, id), headers);
        }

        var status = Status(outcome);
        if (outcome.Kind == OutcomeKind.Unauthenticated)
        {
            headers.Add(new("www-authenticate", "Bearer error=\"invalid_token\""));
        }

        return call?.Server?.Protocol switch
        {
            ToolProtocol.OpenAI => new Refusal(status, OpenAIError(outcome), headers),
            ToolProtocol.Anthropic => new Refusal(status, AnthropicError(outcome), headers),
            _ => new Refusal(status, AegisBody(outcome), headers),
        };
    }

    /// <summary>401 for token problems, 429 for budgets and rate limits, 403 otherwise.</summary>
    public static int Status(DecisionOutcome outcome) => outcome.Kind switch
    {
        OutcomeKind.Unauthenticated => 401,
        OutcomeKind.Limited => 429,
        _ => 403,
    };

    /// <summary>The JSON body of a refusal: <c>{decision_id, reason, policy, rule}</c> (and message, approval_request, approval_error when there are).</summary>
    public static string AegisBody(DecisionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var body = new Dictionary<string, string?>
        {
            ["decision_id"] = outcome.DecisionId,
            ["reason"] = outcome.Reason,
            ["policy"] = outcome.Policy,
            ["rule"] = outcome.Rule,
        };
        if (outcome.Message is not null)
        {
            body["message"] = outcome.Message;
        }

        if (outcome.ApprovalRequest is not null)
        {
            body["approval_request"] = outcome.ApprovalRequest;
        }

        if (outcome.ApprovalError is not null)
        {
            body["approval_error"] = outcome.ApprovalError;
        }

        return JsonSerializer.Serialize(body);
    }

    /// <summary>Whole seconds for a retry-after header, at least 1.</summary>
    public static string RetryAfterSeconds(TimeSpan wait) =>
        Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    /// <summary>What the agent (and the model reading a tool result) is told, in one sentence.</summary>
    public static string Explain(DecisionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var rule = outcome.Rule is null ? outcome.Policy : $"{outcome.Policy}/{outcome.Rule}";
        var text = outcome.Kind switch
        {
            OutcomeKind.ApprovalRequired => $"Aegis: this call needs a person's approval ({rule}). "
                + (outcome.ApprovalRequest is { } name ? $"It was filed as ApprovalRequest {name}; retry the same call once it is approved." : $"It could not be filed: {outcome.ApprovalError ?? "no approvals desk is configured"}."),
            OutcomeKind.Limited => $"Aegis: {outcome.Reason} ({rule}); retry after {RetryAfterSeconds(outcome.RetryAfter ?? TimeSpan.Zero)} s.",
            OutcomeKind.Unauthenticated => $"Aegis: the agent's token was refused ({outcome.Reason}).",
            _ => $"Aegis denied this call: {outcome.Reason}" + (rule is null ? "." : $" ({rule})."),
        };
        return outcome.Message is { Length: > 0 } message ? $"{text} {message} [decision {outcome.DecisionId}]" : $"{text} [decision {outcome.DecisionId}]";
    }

    private static JsonObject Data(DecisionOutcome outcome)
    {
        var data = new JsonObject
        {
            ["decisionId"] = outcome.DecisionId,
            ["reason"] = outcome.Reason,
            ["policy"] = outcome.Policy,
            ["rule"] = outcome.Rule,
        };
        if (outcome.RetryAfter is { } wait)
        {
            data["retryAfter"] = long.Parse(RetryAfterSeconds(wait), CultureInfo.InvariantCulture);
        }

        if (outcome.ApprovalRequest is { } name)
        {
            data["approvalRequest"] = name;
        }

        if (outcome.ApprovalError is { } error)
        {
            data["approvalError"] = error;
        }

        return data;
    }

    private static string McpAnswer(DecisionOutcome outcome, ObservedCall call, string id)
    {
        var message = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = JsonNode.Parse(id) };

        // A policy's no to a tool call is a tool result the model can read and act on; everything else is an error.
        if (call.Kind == CallKind.Tool && call.McpMethod == "tools/call" && outcome.Kind is OutcomeKind.Denied or OutcomeKind.ApprovalRequired)
        {
            var result = new JsonObject
            {
                ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = Explain(outcome) }),
                ["isError"] = true,
                ["_meta"] = new JsonObject { ["aegis.dev/decision"] = Data(outcome) },
            };
            message["result"] = result;
        }
        else
        {
            var code = call.JsonRpcCode ?? outcome.Kind switch
            {
                OutcomeKind.Limited => McpLimited,
                OutcomeKind.Unauthenticated => McpUnauthenticated,
                OutcomeKind.ApprovalRequired => McpApprovalRequired,
                _ => McpRefused,
            };
            message["error"] = new JsonObject { ["code"] = code, ["message"] = Explain(outcome), ["data"] = Data(outcome) };
        }

        return message.ToJsonString();
    }

    private static string OpenAIError(DecisionOutcome outcome)
    {
        var (type, code) = outcome.Kind switch
        {
            OutcomeKind.Limited when outcome.Reason == Policy.Decisions.DecisionReasons.BudgetExhausted => ("insufficient_quota", "insufficient_quota"),
            OutcomeKind.Limited => ("requests", "rate_limit_exceeded"),
            OutcomeKind.Unauthenticated => ("authentication_error", outcome.Reason),
            _ => ("permission_error", outcome.Reason),
        };
        return new JsonObject
        {
            ["error"] = new JsonObject { ["message"] = Explain(outcome), ["type"] = type, ["param"] = null, ["code"] = code },
        }.ToJsonString();
    }

    private static string AnthropicError(DecisionOutcome outcome)
    {
        var type = outcome.Kind switch
        {
            OutcomeKind.Limited => "rate_limit_error",
            OutcomeKind.Unauthenticated => "authentication_error",
            _ => "permission_error",
        };
        return new JsonObject
        {
            ["type"] = "error",
            ["error"] = new JsonObject { ["type"] = type, ["message"] = Explain(outcome) },
        }.ToJsonString();
    }
}
