using System.Text.Json.Nodes;
using Aegis.Policy.Resources;

namespace Aegis.Operator.Slack;

/// <summary>The Block Kit messages of an ApprovalRequest: the ask with Approve / Deny buttons, and the outcome.</summary>
public static class ApprovalMessages
{
    /// <summary>action_id of the Approve button.</summary>
    public const string ApproveAction = "aegis_approve";

    /// <summary>action_id of the Deny button.</summary>
    public const string DenyAction = "aegis_deny";

    /// <summary>block_id of the buttons; the buttons' value is "namespace/name" of the request.</summary>
    public const string ActionsBlock = "aegis_approval";

    /// <summary>The fallback text (notifications, screen readers) of any of the messages.</summary>
    public static string Text(ApprovalRequest request) =>
        $"Approval {(request.Status?.Phase ?? ApprovalPhase.Pending) switch { ApprovalPhase.Pending => "needed", var p => p.ToString().ToLowerInvariant() }}: {request.Spec.AgentId} ({request.Spec.Tenant}) calling {request.Spec.Tool}";

    /// <summary>The request as it stands: buttons while pending, who decided and when afterwards.</summary>
    public static JsonArray Blocks(ApprovalRequest request, IEnumerable<string> approvers)
    {
        var phase = request.Status?.Phase ?? ApprovalPhase.Pending;
        var spec = request.Spec;
        var blocks = new JsonArray
        {
            Section($"*Approval {(phase == ApprovalPhase.Pending ? "needed" : phase.ToString().ToLowerInvariant())}*: agent `{Escape(spec.AgentId)}` of tenant `{Escape(spec.Tenant)}` wants to call `{Escape(spec.Tool)}`"),
            new JsonObject
            {
                ["type"] = "section",
                ["fields"] = new JsonArray
                {
                    Markdown($"*Rule*\n{Escape(spec.Rule is null ? spec.Policy ?? "" : $"{spec.Policy} / {spec.Rule}")}"),
                    Markdown($"*Expires*\n{Escape(spec.ExpiresAt)}"),
                    Markdown($"*Approvers*\n{string.Join(", ", approvers.Select(Mention))}"),
                    Markdown($"*Request*\n`{Escape(request.Metadata.Namespace ?? "")}/{Escape(request.Metadata.Name)}`"),
                },
            },
            Section($"*Arguments* (redacted)\n```{Escape(spec.ArgsPreview ?? "{}")}```"),
        };
        if (phase == ApprovalPhase.Pending)
        {
            var value = $"{request.Metadata.Namespace}/{request.Metadata.Name}";
            blocks.Add(new JsonObject
            {
                ["type"] = "actions",
                ["block_id"] = ActionsBlock,
                ["elements"] = new JsonArray
                {
                    Button(ApproveAction, "Approve", "primary", value),
                    Button(DenyAction, "Deny", "danger", value),
                },
            });
        }
        else
        {
            var who = request.Status?.DecidedBy is { } by ? " by " + Mention(by) : "";
            var when = request.Status?.DecidedAt is { } at ? $" at {Escape(at)}" : "";
            var why = request.Status?.Reason is { } reason ? $" ({Escape(reason)})" : "";
            blocks.Add(new JsonObject
            {
                ["type"] = "context",
                ["elements"] = new JsonArray { Markdown($"*{phase}*{who}{when}{why}") },
            });
        }

        return blocks;
    }

    /// <summary>The thread reply that asks the escalation approvers.</summary>
    public static JsonArray Escalation(IEnumerable<string> approvers) =>
        [Section($"Nobody decided yet; escalating to {string.Join(", ", approvers.Select(Mention))}.")];

    /// <summary><c>slack:U123</c> as a mention; anything else (a Kubernetes user) as text.</summary>
    public static string Mention(string principal) =>
        principal.StartsWith("slack:", StringComparison.Ordinal) ? $"<@{principal["slack:".Length..]}>" : Escape(principal);

    // Slack's mrkdwn treats &, < and > as control characters.
    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    private static JsonObject Markdown(string text) => new() { ["type"] = "mrkdwn", ["text"] = text };

    private static JsonObject Section(string text) => new() { ["type"] = "section", ["text"] = Markdown(text) };

    private static JsonObject Button(string actionId, string label, string style, string value) => new()
    {
        ["type"] = "button",
        ["action_id"] = actionId,
        ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = label },
        ["style"] = style,
        ["value"] = value,
    };
}
