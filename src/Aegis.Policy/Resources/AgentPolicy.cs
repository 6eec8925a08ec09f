using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>What an agent may do: rules over tool calls and HTTP egress.</summary>
public sealed class AgentPolicy : AegisObject<AgentPolicySpec, CompiledObjectStatus>
{
    /// <summary>The kind name.</summary>
    public const string KindName = "AgentPolicy";

    public AgentPolicy() => Kind = KindName;

    public override string Tenant => Spec.Tenant;
}

/// <summary>Whether a policy's effects are enforced or only recorded.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PolicyMode>))]
public enum PolicyMode
{
    [JsonStringEnumMemberName("enforce")] Enforce,
    [JsonStringEnumMemberName("shadow")] Shadow,
}

/// <summary>A decision's effect; the numeric order is the combining precedence (higher wins).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Effect>))]
public enum Effect
{
    [JsonStringEnumMemberName("allow")] Allow = 0,
    [JsonStringEnumMemberName("sanitize")] Sanitize = 1,
    [JsonStringEnumMemberName("approval_needed")] ApprovalNeeded = 2,
    [JsonStringEnumMemberName("deny")] Deny = 3,
}

/// <summary>Spec of an AgentPolicy.</summary>
public sealed class AgentPolicySpec
{
    public string Tenant { get; set; } = "";
    public PolicyMode Mode { get; set; } = PolicyMode.Enforce;
    public List<string>? Agents { get; set; }
    public Effect DefaultEffect { get; set; } = Effect.Deny;
    public List<PolicyRule> Rules { get; set; } = [];
}

/// <summary>One named rule: what it matches, an optional CEL condition, and its effect.</summary>
public sealed class PolicyRule
{
    public string Name { get; set; } = "";
    public RuleMatch Match { get; set; } = new();
    public string? When { get; set; }
    public Effect Effect { get; set; } = Effect.Deny;
    public ApprovalSpec? Approval { get; set; }
    public List<RedactionSpec>? Redact { get; set; }
}

/// <summary>What calls a rule applies to: tool names or HTTP egress.</summary>
public sealed class RuleMatch
{
    public List<string>? Tools { get; set; }
    public EgressMatch? Egress { get; set; }
}

/// <summary>HTTP egress match: hosts (case-insensitive, optional port), methods, paths (globs).</summary>
public sealed class EgressMatch
{
    public List<string>? Hosts { get; set; }
    public List<string>? Methods { get; set; }
    public List<string>? Paths { get; set; }
}

/// <summary>Who approves an approval_needed call, where they are asked and for how long.</summary>
public sealed class ApprovalSpec
{
    public List<string> Approvers { get; set; } = [];
    public string? Ttl { get; set; }
    public string? Channel { get; set; }
    public EscalationSpec? Escalation { get; set; }
}

/// <summary>A second approver list asked when nobody decided within <see cref="After"/>.</summary>
public sealed class EscalationSpec
{
    public string After { get; set; } = "";
    public List<string> Approvers { get; set; } = [];
}

/// <summary>One redaction: a built-in detector or a custom pattern.</summary>
public sealed class RedactionSpec
{
    public string? Detector { get; set; }
    public string? Pattern { get; set; }
    public string? Replacement { get; set; }
}
