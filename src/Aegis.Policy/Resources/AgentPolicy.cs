using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>What an agent may do: rules over tool calls and HTTP egress.</summary>
[Kind("agentpolicies", "ap", "Tenant|string|.spec.tenant", "Mode|string|.spec.mode", "Ready|string|.status.conditions[?(@.type==\"Ready\")].status", "Revision|string|.status.bundleRevision", "Age|date|.metadata.creationTimestamp")]
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
    [Schema(Required = true, Pattern = ResourcePatterns.DnsLabel, Description = "Tenant whose bundle this policy compiles into.")]
    public string Tenant { get; set; } = "";

    [Schema(Default = "enforce", Description = "enforce applies the effects; shadow only records them.")]
    public PolicyMode Mode { get; set; } = PolicyMode.Enforce;

    [Schema(Description = "Globs over agent ids; omitted selects every agent of the tenant.")]
    public List<string>? Agents { get; set; }

    [Schema(Default = "deny", Description = "Effect when no rule of this policy matches.")]
    public Effect DefaultEffect { get; set; } = Effect.Deny;

    [Schema(ListMapKey = "name", Description = "Rules; names are unique within the policy.")]
    public List<PolicyRule> Rules { get; set; } = [];

    [Schema(Description = "What the audit log records of the calls this policy decides.")]
    public PolicyAuditSpec? Audit { get; set; }
}

/// <summary>Audit options of a policy: by default records carry an argument digest, never the arguments.</summary>
public sealed class PolicyAuditSpec
{
    [Schema(Description = "Record the call's arguments in the audit log (redacted by this policy's sanitize redactors, if any). Default false: records carry only argsDigest.")]
    public bool IncludeArgs { get; set; }
}

/// <summary>One named rule: what it matches, an optional CEL condition, and its effect.</summary>
[CelValidation("self.effect != 'approval_needed' || has(self.approval)", "approval is required when effect is approval_needed")]
[CelValidation("self.effect == 'approval_needed' || !has(self.approval)", "approval is only allowed when effect is approval_needed")]
[CelValidation("self.effect != 'sanitize' || (has(self.redact) && size(self.redact) > 0)", "redact must list at least one detector or pattern when effect is sanitize")]
[CelValidation("self.effect == 'sanitize' || !has(self.redact)", "redact is only allowed when effect is sanitize")]
public sealed class PolicyRule
{
    [Schema(Required = true, Pattern = ResourcePatterns.RuleName)]
    public string Name { get; set; } = "";

    [Schema(Required = true)]
    public RuleMatch Match { get; set; } = new();

    [Schema(Description = "CEL condition; the rule matches only when it is true.")]
    public string? When { get; set; }

    [Schema(Required = true)]
    public Effect Effect { get; set; } = Effect.Deny;
    public ApprovalSpec? Approval { get; set; }
    public List<RedactionSpec>? Redact { get; set; }
}

/// <summary>What calls a rule applies to: tool names or HTTP egress.</summary>
[CelValidation("(has(self.tools) && size(self.tools) > 0) || has(self.egress)", "match must name tools or egress")]
public sealed class RuleMatch
{
    public List<string>? Tools { get; set; }
    public EgressMatch? Egress { get; set; }
}

/// <summary>HTTP egress match: hosts (case-insensitive, optional port), methods, paths (globs).</summary>
public sealed class EgressMatch
{
    [Schema(Required = true, MinItems = 1)]
    public List<string>? Hosts { get; set; }

    [Schema(ItemPattern = ResourcePatterns.Method)]
    public List<string>? Methods { get; set; }
    public List<string>? Paths { get; set; }
}

/// <summary>Who approves an approval_needed call, where they are asked and for how long.</summary>
public sealed class ApprovalSpec
{
    [Schema(Required = true, MinItems = 1, ItemPattern = ResourcePatterns.Approver)]
    public List<string> Approvers { get; set; } = [];

    [Schema(Pattern = ResourcePatterns.Duration, Default = "15m")]
    public string? Ttl { get; set; }
    public string? Channel { get; set; }

    [Schema(Minimum = 1, Description = "The most calls one approval may grant (\"the next N such calls within T\"); 1 when unset.")]
    public int? MaxBatch { get; set; }
    public EscalationSpec? Escalation { get; set; }
}

/// <summary>A second approver list asked when nobody decided within <see cref="After"/>.</summary>
public sealed class EscalationSpec
{
    [Schema(Required = true, Pattern = ResourcePatterns.Duration)]
    public string After { get; set; } = "";

    [Schema(Required = true, MinItems = 1, ItemPattern = ResourcePatterns.Approver)]
    public List<string> Approvers { get; set; } = [];
}

/// <summary>One redaction: a built-in detector, a custom pattern, or request headers to remove or replace.</summary>
[CelValidation("[has(self.detector), has(self.pattern), has(self.headers)].exists_one(x, x)", "set exactly one of detector, pattern or headers")]
public sealed class RedactionSpec
{
    [Schema(Pattern = "^(credit_card|iban|us_ssn|email|phone)$", Description = "A built-in detector.")]
    public string? Detector { get; set; }

    [Schema(Description = "A custom regular expression (non-backtracking: no backreferences or lookarounds).")]
    public string? Pattern { get; set; }

    [Schema(MinItems = 1, ItemPattern = "^[a-z0-9!#$%&'*+.^_`|~-]+$",
        Description = "Request headers (lower-case names) whose values are removed, or replaced by replacement when it is set. Detectors of the rule run over every other header.")]
    public List<string>? Headers { get; set; }

    [Schema(Description = "What a match (or a listed header's value) is replaced by; default [REDACTED:detector] or [REDACTED]; with headers and no replacement the header is removed.")]
    public string? Replacement { get; set; }
}
