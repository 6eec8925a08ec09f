using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>A pending human decision on one exact call.</summary>
[Kind("approvalrequests", "ar", "Tenant|string|.spec.tenant", "Agent|string|.spec.agentId", "Tool|string|.spec.tool", "Phase|string|.status.phase", "Age|date|.metadata.creationTimestamp")]
public sealed class ApprovalRequest : AegisObject<ApprovalRequestSpec, ApprovalRequestStatus>
{
    /// <summary>The kind name.</summary>
    public const string KindName = "ApprovalRequest";

    public ApprovalRequest() => Kind = KindName;

    public override string Tenant => Spec.Tenant;
}

/// <summary>Lifecycle phase of an ApprovalRequest.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ApprovalPhase>))]
public enum ApprovalPhase
{
    [JsonStringEnumMemberName("Pending")] Pending,
    [JsonStringEnumMemberName("Approved")] Approved,
    [JsonStringEnumMemberName("Denied")] Denied,
    [JsonStringEnumMemberName("Expired")] Expired,
}

/// <summary>Spec of an ApprovalRequest: the call to approve, bound by its arguments' digest.</summary>
public sealed class ApprovalRequestSpec
{
    [Schema(Required = true, Pattern = ResourcePatterns.DnsLabel)]
    public string Tenant { get; set; } = "";

    [Schema(Required = true)]
    public string AgentId { get; set; } = "";

    [Schema(Required = true)]
    public string Tool { get; set; } = "";

    [Schema(Required = true, Pattern = ResourcePatterns.Sha256Hex, Description = "sha-256 of the canonical JSON arguments.")]
    public string ArgsDigest { get; set; } = "";
    public string? ArgsPreview { get; set; }
    public string? Policy { get; set; }
    public string? Rule { get; set; }
    [Schema(Required = true, MinItems = 1, ItemPattern = ResourcePatterns.Approver)]
    public List<string> Approvers { get; set; } = [];

    [Schema(Required = true, Description = "RFC 3339 time after which the request expires.")]
    public string ExpiresAt { get; set; } = "";

    [Schema(Description = "Slack channel the request is posted to (the rule's approval.channel, else the operator's default).")]
    public string? Channel { get; set; }

    [Schema(Description = "A second approver list, asked when nobody decided within its delay.")]
    public EscalationSpec? Escalation { get; set; }
}

/// <summary>Status of an ApprovalRequest.</summary>
public sealed class ApprovalRequestStatus
{
    public ApprovalPhase Phase { get; set; } = ApprovalPhase.Pending;
    public string? DecidedBy { get; set; }
    public string? DecidedAt { get; set; }
    public string? Reason { get; set; }
    public string? SlackChannel { get; set; }
    public string? SlackMessageTs { get; set; }

    [Schema(Description = "The phase the Slack message last showed; the operator updates the message until it shows the current phase.")]
    public string? SlackPhase { get; set; }

    [Schema(Description = "RFC 3339 time the escalation approvers were asked; they may decide from then on.")]
    public string? EscalatedAt { get; set; }
    public List<ResourceCondition>? Conditions { get; set; }
}
