using System.Text.Json.Nodes;
using Aegis.Policy.Redaction;
using Aegis.Policy.Resources;

namespace Aegis.Policy.Decisions;

/// <summary>Why a decision came out as it did. The names double as metric labels and log fields.</summary>
public static class DecisionReasons
{
    public const string RuleMatched = "rule_matched";
    public const string DefaultEffect = "default_effect";
    public const string NoPolicy = "no_policy_selects_agent";
    public const string ShadowOnly = "shadow_only";
    public const string TenantMismatch = "tenant_mismatch";
    public const string RegionNotAllowed = "region_not_allowed";
    public const string EgressRegionNotAllowed = "egress_region_not_allowed";
    public const string RegionUnknown = "region_unknown";
    public const string RegionConfigInvalid = "region_config_invalid";
    public const string BudgetExhausted = "budget_exhausted";
    public const string ConditionError = "condition_error";
    public const string ModelNotPriced = "model_not_priced";
    public const string ProtocolPassthrough = "protocol_passthrough";
    public const string TunnelRequiresInspection = "tunnel_requires_inspection";
    public const string EgressHostReserved = "egress_host_reserved";
}

/// <summary>What a shadow-mode policy would have decided.</summary>
public sealed record ShadowResult(string Policy, string? Rule, Effect Effect);

/// <summary>A rate limit the server must enforce for this agent (budget rate limit, or throttle once exhausted).</summary>
public sealed record RateLimitDirective(string Budget, int RequestsPerMinute, int Burst);

/// <summary>The budget that was checked, with the numbers it was checked against.</summary>
public sealed record BudgetCheck(string Budget, decimal? Daily, decimal? Monthly, decimal SpentToday, decimal SpentThisMonth, bool Exhausted, string TimeZone);

/// <summary>The outcome of one decision.</summary>
public sealed class Decision
{
    public required Effect Effect { get; init; }
    public required string Reason { get; init; }

    /// <summary>"namespace/name" of the policy (or budget) that decided, when one did.</summary>
    public string? Policy { get; init; }

    public string? Rule { get; init; }

    /// <summary>Human detail, such as the condition error or the region that was refused.</summary>
    public string? Message { get; init; }

    public required string Revision { get; init; }

    /// <summary>The call's arguments as given.</summary>
    public System.Text.Json.JsonElement? Args { get; init; }

    /// <summary>The redacted arguments, set when the effect is sanitize.</summary>
    public JsonNode? RedactedArgs { get; init; }

    public IReadOnlyList<RedactionRecord> Redactions { get; init; } = [];

    /// <summary>The redactors of every matching sanitize rule (for headers, which the caller redacts itself).</summary>
    public IReadOnlyList<Redactor> Redactors { get; init; } = [];
    public IReadOnlyList<ShadowResult> Shadow { get; init; } = [];

    /// <summary>
    /// The cost reserved against budgets for this call: the ToolServer's price (per call, or the model's token
    /// prices times the request's input and output limit), raised to the caller's estimate if that is higher.
    /// </summary>
    public decimal? Cost { get; init; }

    /// <summary>The token prices the reservation was made with, so the call can be settled from its measured usage.</summary>
    public Tools.ModelPrice? ModelPrice { get; init; }

    public ApprovalSpec? Approval { get; init; }
    public IReadOnlyList<BudgetCheck> Budgets { get; init; } = [];
    public IReadOnlyList<RateLimitDirective> RateLimits { get; init; } = [];
}
