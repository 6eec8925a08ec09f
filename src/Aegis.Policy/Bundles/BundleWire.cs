using Aegis.Contracts.Bundles;
using Aegis.Policy.Resources;

namespace Aegis.Policy.Bundles;

/// <summary>
/// The explicit mapping from the CRD model to the bundle wire format. Every field a decision server reads is named
/// here once, so a CRD change reaches the wire only through a change to this file (and its golden files).
/// </summary>
public static class BundleWire
{
    public static PolicyData Policy(AgentPolicy policy) => new()
    {
        Id = policy.Id,
        Mode = policy.Spec.Mode == PolicyMode.Shadow ? PolicyModeData.Shadow : PolicyModeData.Enforce,
        Agents = policy.Spec.Agents,
        DefaultEffect = Effect(policy.Spec.DefaultEffect),
        Rules = [.. policy.Spec.Rules.Select(Rule)],
        AuditIncludesArgs = policy.Spec.Audit?.IncludeArgs == true,
    };

    public static BudgetData Budget(AgentBudget budget) => new()
    {
        Id = budget.Id,
        Agents = budget.Spec.Agents,
        Daily = budget.Spec.Daily,
        Monthly = budget.Spec.Monthly,
        TimeZone = budget.Spec.TimeZone,
        OnExhausted = budget.Spec.OnExhausted switch
        {
            ExhaustedAction.Throttle => ExhaustedData.Throttle,
            ExhaustedAction.ApprovalNeeded => ExhaustedData.ApprovalNeeded,
            _ => ExhaustedData.Deny,
        },
        Throttle = budget.Spec.Throttle is { } throttle ? new RateData { RequestsPerMinute = throttle.RequestsPerMinute } : null,
        RateLimit = budget.Spec.RateLimit is { } limit ? new RateData { RequestsPerMinute = limit.RequestsPerMinute, Burst = limit.Burst } : null,
        Approval = Approval(budget.Spec.Approval),
    };

    public static RegionData Region(TenantRegion region) => new()
    {
        Id = region.Id,
        AllowedRegions = region.Spec.AllowedRegions,
        RegionHosts = region.Spec.RegionHosts?.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value, StringComparer.Ordinal),
    };

    public static ToolServerData ToolServer(ToolServer server) => new()
    {
        Id = server.Id,
        Protocol = server.Spec.Protocol switch
        {
            ToolProtocol.OpenAI => ToolProtocolData.OpenAI,
            ToolProtocol.Anthropic => ToolProtocolData.Anthropic,
            ToolProtocol.Http => ToolProtocolData.Http,
            _ => ToolProtocolData.Mcp,
        },
        Url = server.Spec.Url,
        Hosts = server.Spec.Hosts,
        Prefix = server.ToolPrefix,
        Operations = server.Spec.Operations?.Select(o => new OperationData
        {
            Name = o.Name,
            Method = o.Method,
            Path = o.Path,
            Args = o.Args == OperationArgs.Query ? OperationArgsData.Query : OperationArgsData.Body,
        }).ToList(),
        Prices = server.Spec.Prices?.Select(p => new PriceData { Tools = p.Tools, PerCall = p.PerCall }).ToList(),
        Models = server.Spec.Models?.Select(m => new ModelPriceData { Match = m.Match, InputPer1M = m.InputPer1M, OutputPer1M = m.OutputPer1M }).ToList(),
        MaxOutputTokens = server.Spec.MaxOutputTokens,
    };

    private static RuleData Rule(PolicyRule rule) => new()
    {
        Name = rule.Name,
        Match = new MatchData
        {
            Tools = rule.Match.Tools,
            Egress = rule.Match.Egress is { } egress ? new EgressData { Hosts = egress.Hosts, Methods = egress.Methods, Paths = egress.Paths } : null,
        },
        When = rule.When,
        Effect = Effect(rule.Effect),
        Approval = Approval(rule.Approval),
        Redact = rule.Redact?.Select(r => new RedactionData { Detector = r.Detector, Pattern = r.Pattern, Replacement = r.Replacement, Headers = r.Headers }).ToList(),
    };

    private static ApprovalData? Approval(ApprovalSpec? approval) => approval is null ? null : new()
    {
        Approvers = approval.Approvers,
        Ttl = approval.Ttl,
        Channel = approval.Channel,
        Escalation = approval.Escalation is { } e ? new EscalationData { After = e.After, Approvers = e.Approvers } : null,
        MaxBatch = approval.MaxBatch,
    };

    private static EffectData Effect(Effect effect) => effect switch
    {
        Resources.Effect.Allow => EffectData.Allow,
        Resources.Effect.Sanitize => EffectData.Sanitize,
        Resources.Effect.ApprovalNeeded => EffectData.ApprovalNeeded,
        _ => EffectData.Deny,
    };
}
