using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>Per-agent spend limits and rate limits.</summary>
[Kind("agentbudgets", "ab", "Tenant|string|.spec.tenant", "Daily|string|.spec.daily", "Monthly|string|.spec.monthly", "Ready|string|.status.conditions[?(@.type==\"Ready\")].status", "Revision|string|.status.bundleRevision", "Age|date|.metadata.creationTimestamp")]
public sealed class AgentBudget : AegisObject<AgentBudgetSpec, AgentBudgetStatus>
{
    /// <summary>The kind name.</summary>
    public const string KindName = "AgentBudget";

    public AgentBudget() => Kind = KindName;

    public override string Tenant => Spec.Tenant;
}

/// <summary>What happens to a call that would exceed a budget.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ExhaustedAction>))]
public enum ExhaustedAction
{
    [JsonStringEnumMemberName("deny")] Deny,
    [JsonStringEnumMemberName("throttle")] Throttle,
    [JsonStringEnumMemberName("approval_needed")] ApprovalNeeded,
}

/// <summary>Spec of an AgentBudget. Money is a decimal string in USD.</summary>
[CelValidation("has(self.daily) || has(self.monthly) || has(self.rateLimit)", "set daily, monthly or rateLimit")]
[CelValidation("self.onExhausted != 'throttle' || has(self.throttle)", "throttle is required when onExhausted is throttle")]
[CelValidation("self.onExhausted != 'approval_needed' || has(self.approval)", "approval is required when onExhausted is approval_needed")]
[CelValidation("!has(self.prices)", "prices moved to ToolServer: list them under spec.prices of the ToolServer whose tools they price")]
public sealed class AgentBudgetSpec
{
    [Schema(Required = true, Pattern = ResourcePatterns.DnsLabel)]
    public string Tenant { get; set; } = "";

    [Schema(Description = "Globs over agent ids; each matching agent has its own counters.")]
    public List<string>? Agents { get; set; }

    [Schema(Pattern = ResourcePatterns.Money, Description = "USD per day, a decimal string such as \"20.00\".")]
    public string? Daily { get; set; }

    [Schema(Pattern = ResourcePatterns.Money, Description = "USD per month, a decimal string.")]
    public string? Monthly { get; set; }

    [Schema(Default = "UTC", Description = "IANA time zone that sets when days and months begin.")]
    public string? TimeZone { get; set; }

    [Schema(Default = "deny")]
    public ExhaustedAction OnExhausted { get; set; } = ExhaustedAction.Deny;
    public ThrottleSpec? Throttle { get; set; }
    public RateLimitSpec? RateLimit { get; set; }

    /// <summary>Refused: prices live on ToolServers now. Kept in the model so an old manifest gets a message saying so.</summary>
    [Schema(Description = "Refused: prices moved to ToolServer spec.prices.")]
    public List<PriceSpec>? Prices { get; set; }
    public ApprovalSpec? Approval { get; set; }
}

/// <summary>The request rate an exhausted, throttled agent keeps.</summary>
public sealed class ThrottleSpec
{
    [Schema(Required = true, Minimum = 1)]
    public int RequestsPerMinute { get; set; }
}

/// <summary>A token-bucket rate limit.</summary>
public sealed class RateLimitSpec
{
    [Schema(Required = true, Minimum = 1)]
    public int RequestsPerMinute { get; set; }

    [Schema(Minimum = 0)]
    public int? Burst { get; set; }
}

/// <summary>Cost of one call of the tools matching a glob, decimal USD (ToolServer spec.prices).</summary>
public sealed class PriceSpec
{
    [Schema(Required = true, MinItems = 1)]
    public List<string> Tools { get; set; } = [];

    [Schema(Required = true, Pattern = ResourcePatterns.Money)]
    public string PerCall { get; set; } = "";
}

/// <summary>Status of an AgentBudget: live counters per agent.</summary>
public sealed class AgentBudgetStatus : CompiledObjectStatus
{
    public List<AgentSpend>? Agents { get; set; }
}

/// <summary>One agent's spend as last read from the budget store.</summary>
public sealed class AgentSpend
{
    public string AgentId { get; set; } = "";
    public string SpentToday { get; set; } = "0";
    public string SpentThisMonth { get; set; } = "0";
    public bool Exhausted { get; set; }
}
