using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>A pending human decision on one exact call.</summary>
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
    public string Tenant { get; set; } = "";
    public string AgentId { get; set; } = "";
    public string Tool { get; set; } = "";
    public string ArgsDigest { get; set; } = "";
    public string? ArgsPreview { get; set; }
    public string? Policy { get; set; }
    public string? Rule { get; set; }
    public List<string> Approvers { get; set; } = [];
    public string ExpiresAt { get; set; } = "";
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
    public List<ResourceCondition>? Conditions { get; set; }
}
