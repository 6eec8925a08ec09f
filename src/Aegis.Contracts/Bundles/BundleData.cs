using System.Text.Json.Serialization;

namespace Aegis.Contracts.Bundles;

/// <summary>data.json under the root <c>aegis</c>: one tenant's compiled policy set.</summary>
public sealed record BundleData
{
    public required int SchemaVersion { get; init; }

    public required string Tenant { get; init; }

    public IReadOnlyList<PolicyData> Policies { get; init; } = [];

    public IReadOnlyList<BudgetData> Budgets { get; init; } = [];

    public IReadOnlyList<RegionData> Regions { get; init; } = [];

    /// <summary>The tenant's tool catalog: which hosts are which servers, and how their calls are read and priced.</summary>
    public IReadOnlyList<ToolServerData> ToolServers { get; init; } = [];

    /// <summary>Ids of TenantRegions of this tenant that failed to load: their presence denies the whole tenant.</summary>
    public IReadOnlyList<string> InvalidRegions { get; init; } = [];
}

/// <summary>Whether a policy's effects are enforced or only recorded.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PolicyModeData>))]
public enum PolicyModeData
{
    [JsonStringEnumMemberName("enforce")] Enforce,
    [JsonStringEnumMemberName("shadow")] Shadow,
}

/// <summary>A rule's effect.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EffectData>))]
public enum EffectData
{
    [JsonStringEnumMemberName("allow")] Allow,
    [JsonStringEnumMemberName("sanitize")] Sanitize,
    [JsonStringEnumMemberName("approval_needed")] ApprovalNeeded,
    [JsonStringEnumMemberName("deny")] Deny,
}

/// <summary>One policy.</summary>
public sealed record PolicyData
{
    /// <summary>"namespace/name".</summary>
    public required string Id { get; init; }

    public PolicyModeData Mode { get; init; }

    /// <summary>Globs over agent ids; null selects every agent of the tenant.</summary>
    public IReadOnlyList<string>? Agents { get; init; }

    public EffectData DefaultEffect { get; init; } = EffectData.Deny;

    public IReadOnlyList<RuleData> Rules { get; init; } = [];

    /// <summary>Whether audit records of this policy's decisions carry the (redacted) arguments; omitted when false.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool AuditIncludesArgs { get; init; }
}

/// <summary>One named rule.</summary>
public sealed record RuleData
{
    public required string Name { get; init; }

    public required MatchData Match { get; init; }

    /// <summary>CEL condition.</summary>
    public string? When { get; init; }

    public EffectData Effect { get; init; } = EffectData.Deny;

    public ApprovalData? Approval { get; init; }

    public IReadOnlyList<RedactionData>? Redact { get; init; }
}

/// <summary>What a rule applies to: tool names or HTTP egress.</summary>
public sealed record MatchData
{
    public IReadOnlyList<string>? Tools { get; init; }

    public EgressData? Egress { get; init; }
}

/// <summary>HTTP egress: host, method and path globs.</summary>
public sealed record EgressData
{
    public IReadOnlyList<string>? Hosts { get; init; }

    public IReadOnlyList<string>? Methods { get; init; }

    public IReadOnlyList<string>? Paths { get; init; }
}

/// <summary>Who approves a call, where they are asked and for how long.</summary>
public sealed record ApprovalData
{
    public IReadOnlyList<string> Approvers { get; init; } = [];

    /// <summary>Go duration ("15m").</summary>
    public string? Ttl { get; init; }

    public string? Channel { get; init; }

    public EscalationData? Escalation { get; init; }

    /// <summary>The most calls one approval may grant; 1 when unset.</summary>
    public int? MaxBatch { get; init; }
}

/// <summary>A second approver list asked after a delay.</summary>
public sealed record EscalationData
{
    /// <summary>Go duration.</summary>
    public required string After { get; init; }

    public IReadOnlyList<string> Approvers { get; init; } = [];
}

/// <summary>One redaction: a built-in detector or a pattern.</summary>
public sealed record RedactionData
{
    public string? Detector { get; init; }

    public string? Pattern { get; init; }

    public string? Replacement { get; init; }

    /// <summary>Header names this redaction removes (or replaces with <see cref="Replacement"/>).</summary>
    public IReadOnlyList<string>? Headers { get; init; }
}

/// <summary>What happens to a call that would exceed a budget.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ExhaustedData>))]
public enum ExhaustedData
{
    [JsonStringEnumMemberName("deny")] Deny,
    [JsonStringEnumMemberName("throttle")] Throttle,
    [JsonStringEnumMemberName("approval_needed")] ApprovalNeeded,
}

/// <summary>One budget.</summary>
public sealed record BudgetData
{
    public required string Id { get; init; }

    public IReadOnlyList<string>? Agents { get; init; }

    /// <summary>Decimal USD.</summary>
    public string? Daily { get; init; }

    /// <summary>Decimal USD.</summary>
    public string? Monthly { get; init; }

    /// <summary>IANA zone of the daily reset; null is UTC.</summary>
    public string? TimeZone { get; init; }

    public ExhaustedData OnExhausted { get; init; }

    public RateData? Throttle { get; init; }

    public RateData? RateLimit { get; init; }

    public ApprovalData? Approval { get; init; }
}

/// <summary>A request rate.</summary>
public sealed record RateData
{
    public required int RequestsPerMinute { get; init; }

    public int? Burst { get; init; }
}

/// <summary>One TenantRegion's residency rules.</summary>
public sealed record RegionData
{
    public required string Id { get; init; }

    public IReadOnlyList<string> AllowedRegions { get; init; } = [];

    /// <summary>Region → host patterns living there.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? RegionHosts { get; init; }
}

/// <summary>How a ToolServer's calls are read off the wire.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ToolProtocolData>))]
public enum ToolProtocolData
{
    [JsonStringEnumMemberName("mcp")] Mcp,
    [JsonStringEnumMemberName("openai")] OpenAI,
    [JsonStringEnumMemberName("anthropic")] Anthropic,
    [JsonStringEnumMemberName("http")] Http,
}

/// <summary>Where an HTTP operation's arguments are.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OperationArgsData>))]
public enum OperationArgsData
{
    [JsonStringEnumMemberName("body")] Body,
    [JsonStringEnumMemberName("query")] Query,
}

/// <summary>One ToolServer, with its tool prefix resolved.</summary>
public sealed record ToolServerData
{
    public required string Id { get; init; }

    public ToolProtocolData Protocol { get; init; }

    /// <summary>The upstream URL.</summary>
    public required string Url { get; init; }

    public IReadOnlyList<string>? Hosts { get; init; }

    /// <summary>Tool names are prefix + name.</summary>
    public required string Prefix { get; init; }

    public IReadOnlyList<OperationData>? Operations { get; init; }

    public IReadOnlyList<PriceData>? Prices { get; init; }

    public IReadOnlyList<ModelPriceData>? Models { get; init; }

    public int? MaxOutputTokens { get; init; }
}

/// <summary>An HTTP operation naming one tool.</summary>
public sealed record OperationData
{
    public required string Name { get; init; }

    public required string Method { get; init; }

    public required string Path { get; init; }

    public OperationArgsData Args { get; init; }
}

/// <summary>A per-call price (decimal USD) of the tools its globs match.</summary>
public sealed record PriceData
{
    public IReadOnlyList<string> Tools { get; init; } = [];

    public required string PerCall { get; init; }
}

/// <summary>A model's token prices (decimal USD per million).</summary>
public sealed record ModelPriceData
{
    public required string Match { get; init; }

    public required string InputPer1M { get; init; }

    public required string OutputPer1M { get; init; }
}
