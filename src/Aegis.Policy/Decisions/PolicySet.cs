using Aegis.Contracts.Bundles;
using Aegis.Policy.Bundles;
using Aegis.Policy.Conditions;
using Aegis.Policy.Matching;
using Aegis.Policy.Redaction;
using Aegis.Policy.Resources;
using Aegis.Policy.Tools;
using Aegis.Policy.Values;

namespace Aegis.Policy.Decisions;

/// <summary>A rule with its globs, CEL condition and redactor compiled.</summary>
public sealed class CompiledRule
{
    public required string Name { get; init; }
    public required Effect Effect { get; init; }
    public GlobSet? Tools { get; init; }
    public HostPattern[]? Hosts { get; init; }

    /// <summary>Upper-case methods; null matches every method.</summary>
    public string[]? Methods { get; init; }

    public GlobSet? Paths { get; init; }
    public CelCondition? Condition { get; init; }
    public ApprovalSpec? Approval { get; init; }
    public Redactor? Redactor { get; init; }

    /// <summary>True when the rule names egress criteria.</summary>
    public bool HasEgress => Hosts is not null;
}

/// <summary>A policy ready for evaluation.</summary>
public sealed class CompiledPolicy
{
    public required string Id { get; init; }
    public required PolicyMode Mode { get; init; }
    public required GlobSet Agents { get; init; }
    public required Effect DefaultEffect { get; init; }
    public required CompiledRule[] Rules { get; init; }

    /// <summary>spec.audit.includeArgs: audit records of this policy's decisions carry the (redacted) arguments.</summary>
    public bool AuditIncludesArgs { get; init; }
}

/// <summary>A budget ready for evaluation.</summary>
public sealed class CompiledBudget
{
    public required string Id { get; init; }
    public required GlobSet Agents { get; init; }
    public decimal? Daily { get; init; }
    public decimal? Monthly { get; init; }
    public required string TimeZone { get; init; }

    /// <summary>The resolved zone of <see cref="TimeZone"/>, looked up once at bundle load (UTC if unknown).</summary>
    public required TimeZoneInfo Zone { get; init; }
    public required ExhaustedAction OnExhausted { get; init; }
    public ThrottleSpec? Throttle { get; init; }
    public RateLimitSpec? RateLimit { get; init; }
    public ApprovalSpec? Approval { get; init; }
}

/// <summary>The tenant's residency rules, intersected over its TenantRegion objects.</summary>
public sealed class CompiledRegion
{
    public required HashSet<string> Allowed { get; init; }
    public required (HostPattern Host, string Region)[] Hosts { get; init; }
}

/// <summary>A rule with the index of its policy in <see cref="PolicySet.Policies"/>.</summary>
public readonly record struct RuleRef(int PolicyIndex, CompiledRule Rule);

/// <summary>Which policies select one agent, and what their default effects combine to.</summary>
public sealed class AgentView
{
    public required bool[] Selected { get; init; }
    public required bool AnyEnforce { get; init; }
    public required bool AnyShadow { get; init; }
    public required Effect DefaultEffect { get; init; }
    public string? DefaultPolicy { get; init; }

    /// <summary>The first budget (by namespace/name) selecting the agent: its counters' time zone and CEL's <c>budget</c>.</summary>
    public CompiledBudget? Budget { get; init; }
}

/// <summary>Thrown when bundle data cannot be compiled (it was not produced by a compatible compiler).</summary>
public sealed class PolicySetException(string message) : Exception(message);

/// <summary>
/// One tenant's bundle compiled for evaluation: globs, CEL and redaction patterns built once at load, so the
/// decision path only matches and evaluates. Immutable; swapped whole when a new bundle arrives.
/// </summary>
public sealed class PolicySet
{
    public required string Tenant { get; init; }
    public required string Revision { get; init; }
    public required CompiledPolicy[] Policies { get; init; }
    public required CompiledBudget[] Budgets { get; init; }
    public CompiledRegion? Region { get; init; }

    /// <summary>The tenant's ToolServers: which hosts are which servers, how their calls are read and priced.</summary>
    public ToolCatalog Tools { get; init; } = ToolCatalog.Empty;

    /// <summary>Ids of TenantRegion objects that failed to compile; any entry denies the tenant.</summary>
    public required string[] InvalidRegions { get; init; }

    /// <summary>Most distinct tool names and agent ids remembered; beyond that, lookups are computed each time.</summary>
    public const int MaxMemoEntries = 10_000;

    private RuleRef[]? _rules;
    private int[]? _egressRules;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int[]> _toolCandidates = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, AgentView> _agentViews = new(StringComparer.Ordinal);

    // ConcurrentDictionary.Count takes every lock; these counters keep the bound check cheap on the decision path.
    private int _toolCandidateCount;
    private int _agentViewCount;

    /// <summary>Every rule of every policy, in policy order then rule order (the tie-break order).</summary>
    public RuleRef[] Rules => _rules ??= [.. Policies.SelectMany((p, i) => p.Rules.Select(r => new RuleRef(i, r)))];

    /// <summary>Indexes into <see cref="Rules"/> of the rules with egress criteria, ascending.</summary>
    public int[] EgressRules => _egressRules ??= [.. Rules.Select((r, i) => (r, i)).Where(x => x.r.Rule.HasEgress).Select(x => x.i)];

    /// <summary>
    /// Indexes into <see cref="Rules"/> of the rules whose tool globs match <paramref name="tool"/>, ascending.
    /// Remembered per tool name (agents call the same tools over and over), up to <see cref="MaxMemoEntries"/>.
    /// </summary>
    public int[] ToolCandidates(string tool)
    {
        if (_toolCandidates.TryGetValue(tool, out var cached))
        {
            return cached;
        }

        var rules = Rules;
        var matches = new List<int>();
        for (var i = 0; i < rules.Length; i++)
        {
            if (rules[i].Rule.Tools is { } tools && tools.IsMatch(tool))
            {
                matches.Add(i);
            }
        }

        int[] result = [.. matches];
        if (Volatile.Read(ref _toolCandidateCount) < MaxMemoEntries && _toolCandidates.TryAdd(tool, result))
        {
            Interlocked.Increment(ref _toolCandidateCount);
        }

        return result;
    }

    /// <summary>The policies that select <paramref name="agentId"/>, remembered per agent like <see cref="ToolCandidates"/>.</summary>
    public AgentView ViewFor(string agentId)
    {
        if (_agentViews.TryGetValue(agentId, out var cached))
        {
            return cached;
        }

        var selected = new bool[Policies.Length];
        bool anyEnforce = false, anyShadow = false;
        var defaultEffect = Effect.Allow;
        string? defaultPolicy = null;
        for (var i = 0; i < Policies.Length; i++)
        {
            var policy = Policies[i];
            if (!policy.Agents.IsMatch(agentId))
            {
                continue;
            }

            selected[i] = true;
            if (policy.Mode == PolicyMode.Shadow)
            {
                anyShadow = true;
                continue;
            }

            if (!anyEnforce || policy.DefaultEffect > defaultEffect)
            {
                defaultEffect = policy.DefaultEffect;
                defaultPolicy = policy.Id;
            }

            anyEnforce = true;
        }

        var view = new AgentView
        {
            Selected = selected,
            AnyEnforce = anyEnforce,
            AnyShadow = anyShadow,
            DefaultEffect = defaultEffect,
            DefaultPolicy = defaultPolicy,
            Budget = Array.Find(Budgets, b => b.Agents.IsMatch(agentId)),
        };
        if (Volatile.Read(ref _agentViewCount) < MaxMemoEntries && _agentViews.TryAdd(agentId, view))
        {
            Interlocked.Increment(ref _agentViewCount);
        }

        return view;
    }

    /// <summary>Compiles bundle content produced by <see cref="BundleCompiler"/>.</summary>
    public static PolicySet From(BundleContent content) => Load(content.Data, content.Revision);

    /// <summary>Compiles bundle wire data; throws <see cref="PolicySetException"/> naming the first bad field.</summary>
    public static PolicySet Load(BundleData data, string revision)
    {
        var policies = data.Policies.Select(CompilePolicy).ToArray();
        var budgets = data.Budgets.Select(CompileBudget).ToArray();
        CompiledRegion? region = null;
        if (data.Regions.Count > 0)
        {
            var allowed = new HashSet<string>(data.Regions[0].AllowedRegions, StringComparer.Ordinal);
            foreach (var r in data.Regions.Skip(1))
            {
                allowed.IntersectWith(r.AllowedRegions);
            }

            region = new CompiledRegion
            {
                Allowed = allowed,
                Hosts = [.. data.Regions.SelectMany(r => (r.RegionHosts ?? new Dictionary<string, IReadOnlyList<string>>()).SelectMany(kv =>
                    kv.Value.Select(h => (Compile(() => HostPattern.Compile(h), r.Id, $"regionHosts.{kv.Key}"), kv.Key))))],
            };
        }

        return new PolicySet
        {
            Tenant = data.Tenant,
            Revision = revision,
            Policies = policies,
            Budgets = budgets,
            Region = region,
            Tools = Compile(() => ToolCatalog.Compile(data.ToolServers), data.Tenant, "toolServers"),
            InvalidRegions = [.. data.InvalidRegions],
        };
    }

    private static CompiledPolicy CompilePolicy(PolicyData policy) => new()
    {
        Id = policy.Id,
        Mode = policy.Mode == PolicyModeData.Shadow ? PolicyMode.Shadow : PolicyMode.Enforce,
        Agents = Compile(() => GlobSet.Of(policy.Agents), policy.Id, "spec.agents"),
        DefaultEffect = CompileEffect(policy.DefaultEffect),
        Rules = [.. policy.Rules.Select((r, i) => CompileRule(policy.Id, r, i))],
        AuditIncludesArgs = policy.AuditIncludesArgs,
    };

    private static Effect CompileEffect(EffectData effect) => effect switch
    {
        EffectData.Allow => Effect.Allow,
        EffectData.Sanitize => Effect.Sanitize,
        EffectData.ApprovalNeeded => Effect.ApprovalNeeded,
        _ => Effect.Deny,
    };

    private static CompiledRule CompileRule(string policyId, RuleData rule, int index)
    {
        var path = $"spec.rules[{index}]";
        CelCondition? condition = null;
        if (rule.When is { } when && !CelCondition.TryCompile(when, out condition, out var celError))
        {
            throw new PolicySetException($"{policyId}: {path}.when: {celError}");
        }

        Redactor? redactor = null;
        if (rule.Redact is { Count: > 0 } redact
            && !Redactor.TryCompile([.. redact.Select(r => new RedactionSpec { Detector = r.Detector, Pattern = r.Pattern, Replacement = r.Replacement, Headers = r.Headers?.ToList() })], out redactor, out var redactError))
        {
            throw new PolicySetException($"{policyId}: {path}.redact: {redactError}");
        }

        var egress = rule.Match.Egress;
        return new CompiledRule
        {
            Name = rule.Name,
            Effect = CompileEffect(rule.Effect),
            Tools = rule.Match.Tools is { Count: > 0 } tools ? Compile(() => GlobSet.Of(tools), policyId, $"{path}.match.tools") : null,
            Hosts = egress is null ? null : Compile(() => (egress.Hosts ?? ["*"]).Select(HostPattern.Compile).ToArray(), policyId, $"{path}.match.egress.hosts"),
            Methods = egress?.Methods is { Count: > 0 } methods && !methods.Contains("*") ? [.. methods.Select(m => m.ToUpperInvariant())] : null,
            Paths = egress?.Paths is { Count: > 0 } paths ? Compile(() => GlobSet.Of(paths), policyId, $"{path}.match.egress.paths") : null,
            Condition = condition,
            Approval = CompileApproval(rule.Approval),
            Redactor = redactor,
        };
    }

    private static ApprovalSpec? CompileApproval(ApprovalData? approval) => approval is null ? null : new()
    {
        Approvers = [.. approval.Approvers],
        Ttl = approval.Ttl,
        Channel = approval.Channel,
        Escalation = approval.Escalation is { } e ? new EscalationSpec { After = e.After, Approvers = [.. e.Approvers] } : null,
        MaxBatch = approval.MaxBatch,
    };

    private static CompiledBudget CompileBudget(BudgetData budget) => new()
    {
        Id = budget.Id,
        Agents = Compile(() => GlobSet.Of(budget.Agents), budget.Id, "spec.agents"),
        Daily = ParseMoney(budget.Daily, budget.Id, "spec.daily"),
        Monthly = ParseMoney(budget.Monthly, budget.Id, "spec.monthly"),
        TimeZone = budget.TimeZone ?? "UTC",
        Zone = Values.TimeZones.TryFind(budget.TimeZone ?? "UTC", out var zone) ? zone : TimeZoneInfo.Utc,
        OnExhausted = budget.OnExhausted switch
        {
            ExhaustedData.Throttle => ExhaustedAction.Throttle,
            ExhaustedData.ApprovalNeeded => ExhaustedAction.ApprovalNeeded,
            _ => ExhaustedAction.Deny,
        },
        Throttle = budget.Throttle is { } throttle ? new ThrottleSpec { RequestsPerMinute = throttle.RequestsPerMinute } : null,
        RateLimit = budget.RateLimit is { } limit ? new RateLimitSpec { RequestsPerMinute = limit.RequestsPerMinute, Burst = limit.Burst } : null,
        Approval = CompileApproval(budget.Approval),
    };

    private static decimal? ParseMoney(string? text, string id, string field) =>
        text is null ? null
        : Money.TryParse(text, out var value, out var error) ? value
        : throw new PolicySetException($"{id}: {field}: {error}");

    private static T Compile<T>(Func<T> compile, string id, string field)
    {
        try
        {
            return compile();
        }
        catch (FormatException e)
        {
            throw new PolicySetException($"{id}: {field}: {e.Message}");
        }
    }
}
