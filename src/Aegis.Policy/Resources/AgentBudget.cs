using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>Per-agent spend limits and rate limits.</summary>
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
public sealed class AgentBudgetSpec
{
    public string Tenant { get; set; } = "";
    public List<string>? Agents { get; set; }
    public string? Daily { get; set; }
    public string? Monthly { get; set; }
    public string? TimeZone { get; set; }
    public ExhaustedAction OnExhausted { get; set; } = ExhaustedAction.Deny;
    public ThrottleSpec? Throttle { get; set; }
    public RateLimitSpec? RateLimit { get; set; }
    public List<PriceSpec>? Prices { get; set; }
    public ApprovalSpec? Approval { get; set; }
}

/// <summary>The request rate an exhausted, throttled agent keeps.</summary>
public sealed class ThrottleSpec
{
    public int RequestsPerMinute { get; set; }
}

/// <summary>A token-bucket rate limit.</summary>
public sealed class RateLimitSpec
{
    public int RequestsPerMinute { get; set; }
    public int? Burst { get; set; }
}

/// <summary>Cost per call for tools, used when the caller sends no estimate.</summary>
public sealed class PriceSpec
{
    public List<string> Tools { get; set; } = [];
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
