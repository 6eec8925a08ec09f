using System.Text.Json.Nodes;
using Aegis.Policy.Matching;
using Aegis.Policy.Redaction;
using Aegis.Policy.Resources;
using Aegis.Policy.Tools;

namespace Aegis.Policy.Decisions;

/// <summary>
/// The decision function: (policy set, input) → decision, per DESIGN.md "Decisions". Pure: no clock, no I/O,
/// no shared mutable state, so it is safe on any number of threads.
/// </summary>
public static class DecisionEngine
{
    /// <summary>Decides one call.</summary>
    public static Decision Decide(PolicySet set, DecisionInput input)
    {
        var context = new EvaluationContext(set, input);
        if (input.Tenant != set.Tenant)
        {
            return context.Deny(DecisionReasons.TenantMismatch, $"input tenant \"{input.Tenant}\" is not the bundle's tenant \"{set.Tenant}\"");
        }

        if (CheckRegion(set, context) is { } regionDenial)
        {
            return context.Deny(regionDenial.Reason, regionDenial.Message);
        }

        var view = set.ViewFor(input.Agent.Id);
        var shadow = view.AnyShadow ? EvaluateShadow(set, view, context) : [];
        if (!view.AnyEnforce)
        {
            return shadow.Count > 0
                ? context.Result(Effect.Allow, DecisionReasons.ShadowOnly, null, null, null, shadow)
                : context.Deny(DecisionReasons.NoPolicy, $"no enforce-mode policy of tenant \"{set.Tenant}\" selects agent \"{input.Agent.Id}\"", shadow);
        }

        if (input.Passthrough)
        {
            return context.Result(Effect.Allow, DecisionReasons.ProtocolPassthrough, null, null, null, shadow);
        }

        var enforced = Evaluate(set, view, onlyPolicy: -1, context);
        if (enforced.Error is not null)
        {
            return context.Result(Effect.Deny, enforced.ErrorReason ?? DecisionReasons.ConditionError, enforced.Policy, enforced.Rule, enforced.Error, shadow);
        }

        var reason = enforced.Rule is null ? DecisionReasons.DefaultEffect : DecisionReasons.RuleMatched;
        if (enforced.Rule is null && enforced.Effect != Effect.Deny && input.Request is { } target && context.Egress is { } normalised && ReservedHosts.IsReserved(normalised.Host))
        {
            return context.Result(Effect.Deny, DecisionReasons.EgressHostReserved, enforced.Policy, null,
                $"\"{target.Host}\" is loopback, link-local, a metadata endpoint or the cluster API: only a rule that names it allows it, never a default", shadow);
        }

        if (enforced.Effect is Effect.Allow or Effect.Sanitize && set.Budgets.Length > 0)
        {
            return CheckBudgets(context, enforced, reason, shadow);
        }

        return context.Result(enforced.Effect, reason, enforced.Policy, enforced.Rule, null, shadow, enforced.Sanitizers, approval: enforced.Approval);
    }

    /// <summary>
    /// Whether some call of <paramref name="tool"/> by <paramref name="agentId"/> could be allowed (or sanitized, or
    /// approved): false only when every outcome is a deny, that is when an enforce policy selecting the agent denies
    /// the tool without a condition, or no rule could let it through and the default effects deny. Used to filter
    /// MCP tools/list answers, so it errs on the side of showing a tool that a condition may still deny.
    /// </summary>
    /// <param name="set">The tenant's policies.</param>
    /// <param name="agentId">The agent asking.</param>
    /// <param name="tool">The full tool name (ToolServer prefix included).</param>
    /// <param name="via">The request a call of the tool would be (its host, method and path), for egress rules.</param>
    public static bool MayEverAllow(PolicySet set, string agentId, string tool, EgressRequest via)
    {
        ArgumentNullException.ThrowIfNull(set);
        var view = set.ViewFor(agentId);
        if (!view.AnyEnforce)
        {
            return view.AnyShadow;
        }

        var possible = false;
        foreach (var index in set.ToolCandidates(tool))
        {
            var (policyIndex, rule) = set.Rules[index];
            if (!view.Selected[policyIndex] || set.Policies[policyIndex].Mode != PolicyMode.Enforce)
            {
                continue;
            }

            if (rule.Effect == Effect.Deny && rule.Condition is null)
            {
                return false;
            }

            possible |= rule.Effect != Effect.Deny;
        }

        // Egress rules also match a ToolServer's host: one that may let traffic through keeps the tool visible.
        EgressTarget? target = null;
        foreach (var index in set.EgressRules)
        {
            var (policyIndex, rule) = set.Rules[index];
            possible |= view.Selected[policyIndex] && set.Policies[policyIndex].Mode == PolicyMode.Enforce && rule.Effect != Effect.Deny
                && EgressMatches(rule, via, target ??= EgressTarget.Parse(via.Host, via.Path), tunnel: false);
        }

        return possible || view.DefaultEffect != Effect.Deny;
    }

    /// <summary>
    /// The destination checks that come before any rule: an egress target that cannot be normalised is denied (it
    /// would otherwise be matched as sent), then the tenant's regions.
    /// </summary>
    private static (string Reason, string Message)? CheckRegion(PolicySet set, EvaluationContext context)
    {
        var input = context.Input;
        if (context.Egress is { Invalid: { } invalid } target)
        {
            return (invalid, target.Message!);
        }

        if (set.InvalidRegions.Length > 0)
        {
            return (DecisionReasons.RegionConfigInvalid, $"TenantRegion {string.Join(", ", set.InvalidRegions)} could not be loaded; the tenant is denied until it is fixed");
        }

        if (set.Region is not { } region)
        {
            return null;
        }

        if (string.IsNullOrEmpty(input.Region))
        {
            return (DecisionReasons.RegionUnknown, "the decision server's region is not configured and the tenant restricts regions");
        }

        if (!region.Allowed.Contains(input.Region))
        {
            return (DecisionReasons.RegionNotAllowed, $"region \"{input.Region}\" is not in the tenant's allowedRegions");
        }

        if (input.Request is { } request && context.Egress is { } egress && region.Hosts.Length > 0)
        {
            foreach (var (pattern, hostRegion) in region.Hosts)
            {
                if (!region.Allowed.Contains(hostRegion) && pattern.IsMatch(egress.Host, egress.Port))
                {
                    return (DecisionReasons.EgressRegionNotAllowed, $"host \"{request.Host}\" is in region \"{hostRegion}\", which the tenant does not allow");
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Evaluates the candidate rules (those whose tools match, plus egress rules for HTTP calls) in tie-break order:
    /// either the enforce policies selecting the agent (<paramref name="onlyPolicy"/> = -1) or one shadow policy.
    /// </summary>
    private static Outcome Evaluate(PolicySet set, AgentView view, int onlyPolicy, EvaluationContext context)
    {
        var input = context.Input;
        var rules = set.Rules;
        var byTool = input.Tool is { } tool ? set.ToolCandidates(tool) : [];
        var byEgress = input.Request is not null ? set.EgressRules : [];
        var best = default(Outcome);
        var matched = false;
        RuleRef? hidden = null;
        List<Redactor>? sanitizers = null;
        int t = 0, e = 0;
        while (t < byTool.Length || e < byEgress.Length)
        {
            // Merge the two ascending index lists so rules are seen in policy order, then rule order.
            int index;
            bool toolMatched;
            if (e >= byEgress.Length || (t < byTool.Length && byTool[t] <= byEgress[e]))
            {
                index = byTool[t++];
                toolMatched = true;
                if (e < byEgress.Length && byEgress[e] == index)
                {
                    e++;
                }
            }
            else
            {
                index = byEgress[e++];
                toolMatched = false;
            }

            var (policyIndex, rule) = rules[index];
            if (onlyPolicy >= 0 ? policyIndex != onlyPolicy : !view.Selected[policyIndex] || set.Policies[policyIndex].Mode != PolicyMode.Enforce)
            {
                continue;
            }

            if (!toolMatched && !EgressMatches(rule, input.Request!, context.Egress!, input.Tunnel))
            {
                continue;
            }

            var policyId = set.Policies[policyIndex].Id;
            if (input.Tunnel && rule.Effect != Effect.Deny && (rule.Condition is not null || rule.Methods is not null || rule.Paths is not null || rule.Effect == Effect.Sanitize))
            {
                // What this rule's allow depends on is inside the tunnel: it cannot allow it (a deny still applies).
                hidden ??= rules[index];
                continue;
            }

            if (rule.Condition is { } condition)
            {
                var result = condition.Evaluate(context.Scope);
                if (result.Failed)
                {
                    // Fail closed: an erroring condition can never silently skip a deny rule.
                    return new Outcome(Effect.Deny, policyId, rule.Name, $"rule \"{rule.Name}\" condition failed: {result.Error}", null, rule.Approval);
                }

                if (!result.Value)
                {
                    continue;
                }
            }

            // A granted approval lets this rule's call through: it counts as an allow (budgets still apply).
            var effect = rule.Effect == Effect.ApprovalNeeded && input.Granted is { } granted && granted.Policy == policyId && granted.Rule == rule.Name
                ? Effect.Allow
                : rule.Effect;
            if (!matched || effect > best.Effect)
            {
                best = new Outcome(effect, policyId, rule.Name, null, null, rule.Approval);
                matched = true;
            }

            if (rule.Effect == Effect.Sanitize)
            {
                // Every matching sanitize rule contributes its redactions, not only the first.
                (sanitizers ??= []).Add(rule.Redactor!);
            }
            else if (rule.Effect == Effect.Deny && onlyPolicy < 0)
            {
                return best;
            }
        }

        if (matched)
        {
            return best with { Sanitizers = sanitizers };
        }

        if (hidden is { } blind)
        {
            var message = $"rule \"{blind.Rule.Name}\" would decide this tunnel on what it hides (its condition, methods, paths or redactions); send it as plain HTTP through the sidecar";
            return new Outcome(Effect.Deny, set.Policies[blind.PolicyIndex].Id, blind.Rule.Name, message, null, null) { ErrorReason = DecisionReasons.TunnelRequiresInspection };
        }

        return onlyPolicy >= 0
            ? new Outcome(set.Policies[onlyPolicy].DefaultEffect, set.Policies[onlyPolicy].Id, null, null, null, null)
            : new Outcome(view.DefaultEffect, view.DefaultPolicy, null, null, null, null);
    }

    private static List<ShadowResult> EvaluateShadow(PolicySet set, AgentView view, EvaluationContext context)
    {
        var results = new List<ShadowResult>();
        for (var i = 0; i < set.Policies.Length; i++)
        {
            if (view.Selected[i] && set.Policies[i].Mode == PolicyMode.Shadow)
            {
                var outcome = Evaluate(set, view, onlyPolicy: i, context);
                results.Add(new ShadowResult(set.Policies[i].Id, outcome.Rule, outcome.Effect));
            }
        }

        return results;
    }

    /// <summary>Matches the decision's one normalised <paramref name="target"/>, never the request as sent; a tunnel by its host alone.</summary>
    private static bool EgressMatches(CompiledRule rule, EgressRequest request, EgressTarget target, bool tunnel)
    {
        // A tunnel's method and path are unknown: on a tunnel a rule matches by host alone.
        if (!tunnel && rule.Methods is not null && Array.IndexOf(rule.Methods, request.Method) < 0)
        {
            return false;
        }

        if (!tunnel && rule.Paths is not null && !rule.Paths.IsMatch(target.Path))
        {
            return false;
        }

        foreach (var pattern in rule.Hosts!)
        {
            if (pattern.IsMatch(target.Host, target.Port))
            {
                return true;
            }
        }

        return false;
    }

    private static Decision CheckBudgets(EvaluationContext context, Outcome enforced, string reason, List<ShadowResult> shadow)
    {
        var input = context.Input;
        var (cost, modelPrice) = Price(context.Set, input);
        List<BudgetCheck>? checks = null;
        List<RateLimitDirective>? limits = null;
        CompiledBudget? exhausted = null;
        foreach (var budget in context.Set.Budgets)
        {
            if (!budget.Agents.IsMatch(input.Agent.Id))
            {
                continue;
            }

            var charge = cost ?? 0m;
            var over = (budget.Daily is { } daily && input.Budget.SpentToday + charge > daily)
                || (budget.Monthly is { } monthly && input.Budget.SpentThisMonth + charge > monthly);

            // A person approved going past this budget for exactly this call.
            over &= !(budget.OnExhausted == ExhaustedAction.ApprovalNeeded && input.Granted is { Rule: null } granted && granted.Policy == budget.Id);
            (checks ??= []).Add(new BudgetCheck(budget.Id, budget.Daily, budget.Monthly, input.Budget.SpentToday, input.Budget.SpentThisMonth, over, budget.TimeZone));
            if (over && (exhausted is null || Severity(budget.OnExhausted) > Severity(exhausted.OnExhausted)))
            {
                exhausted = budget;
            }

            if (budget.RateLimit is { } rate)
            {
                (limits ??= []).Add(new RateLimitDirective(budget.Id, rate.RequestsPerMinute, rate.Burst ?? rate.RequestsPerMinute));
            }

            if (over && budget.OnExhausted == ExhaustedAction.Throttle && budget.Throttle is { } throttle)
            {
                (limits ??= []).Add(new RateLimitDirective(budget.Id, throttle.RequestsPerMinute, 1));
            }
        }

        var budgetInfo = (cost, (IReadOnlyList<BudgetCheck>?)checks ?? [], (IReadOnlyList<RateLimitDirective>?)limits ?? [], modelPrice);
        if (input.Llm is { } llm && modelPrice is null && checks?.Find(c => c.Daily is not null || c.Monthly is not null) is { } spendLimit)
        {
            // A token-metered call nobody priced cannot be reserved for: fail closed rather than let it run free.
            var message = $"model \"{llm.Model}\" has no price in ToolServer {input.ToolServer ?? "(none)"} spec.models, and budget {spendLimit.Budget} limits this agent's spend";
            return context.Result(Effect.Deny, DecisionReasons.ModelNotPriced, spendLimit.Budget, null, message, shadow, null, budgetInfo);
        }

        if (exhausted is not null && exhausted.OnExhausted != ExhaustedAction.Throttle)
        {
            var effect = exhausted.OnExhausted == ExhaustedAction.Deny ? Effect.Deny : Effect.ApprovalNeeded;
            var message = $"the call's cost {cost ?? 0m} would exceed budget {exhausted.Id} (spent today {input.Budget.SpentToday}, this month {input.Budget.SpentThisMonth})";
            return context.Result(effect, DecisionReasons.BudgetExhausted, exhausted.Id, null, message, shadow, null, budgetInfo, exhausted.Approval);
        }

        return context.Result(enforced.Effect, reason, enforced.Policy, enforced.Rule, null, shadow, enforced.Sanitizers, budgetInfo);

        static int Severity(ExhaustedAction action) => action switch
        {
            ExhaustedAction.Deny => 3,
            ExhaustedAction.ApprovalNeeded => 2,
            _ => 1,
        };
    }

    /// <summary>
    /// What the call reserves: for an LLM call the model's token prices times its input tokens and output limit,
    /// else the ToolServer's per-call price of the tool; the caller's estimate only ever raises it.
    /// </summary>
    private static (decimal? Cost, ModelPrice? ModelPrice) Price(PolicySet set, DecisionInput input)
    {
        var server = input.ToolServer is { } id ? set.Tools.ById(id) : input.Tool is { } named ? set.Tools.ForTool(named) : null;
        decimal? priced = null;
        ModelPrice? modelPrice = null;
        if (input.Llm is { } llm && server is { MetersTokens: true })
        {
            modelPrice = server.PriceOfModel(llm.Model);
            priced = modelPrice?.CostOf(llm.InputTokens, llm.MaxOutputTokens);
        }

        if (priced is null && input.Tool is { } tool && server is not null)
        {
            priced = server.PriceOf(tool);
        }

        return (input.Cost is { } claimed && (priced is null || claimed > priced) ? claimed : priced, modelPrice);
    }

    private readonly record struct Outcome(Effect Effect, string? Policy, string? Rule, string? Error, List<Redactor>? Sanitizers, ApprovalSpec? Approval)
    {
        /// <summary>The reason of an <see cref="Error"/> when it is not a condition error.</summary>
        public string? ErrorReason { get; init; }
    }

    /// <summary>Per-decision state: the CEL variables are built at most once, and only when a condition runs.</summary>
    private sealed class EvaluationContext(PolicySet set, DecisionInput input)
    {
        private DecisionScope? _scope;
        private EgressTarget? _egress;

        public PolicySet Set { get; } = set;
        public DecisionInput Input { get; } = input;

        /// <summary>The request's destination, normalised once per decision (null for a call without a request).</summary>
        public EgressTarget? Egress => Input.Request is { } r ? _egress ??= EgressTarget.Parse(r.Host, r.Path) : null;

        public DecisionScope Scope => _scope ??= new DecisionScope(Input, Set);

        public Decision Deny(string reason, string message, List<ShadowResult>? shadow = null) =>
            Result(Effect.Deny, reason, null, null, message, shadow ?? []);

        public Decision Result(
            Effect effect,
            string reason,
            string? policy,
            string? rule,
            string? message,
            List<ShadowResult> shadow,
            List<Redactor>? sanitizers = null,
            (decimal? Cost, IReadOnlyList<BudgetCheck> Checks, IReadOnlyList<RateLimitDirective> Limits, ModelPrice? ModelPrice)? budget = null,
            ApprovalSpec? approval = null)
        {
            JsonNode? redacted = null;
            List<RedactionRecord>? redactions = null;
            if (effect == Effect.Sanitize && sanitizers is not null && Input.Args is { } raw)
            {
                redactions = [];
                redacted = Redactor.RedactAll(raw, sanitizers, "args", redactions);
            }

            return new Decision
            {
                Effect = effect,
                Reason = reason,
                Policy = policy,
                Rule = rule,
                Message = message,
                Revision = Set.Revision,
                Args = Input.Args,
                RedactedArgs = redacted,
                Redactions = redactions ?? [],
                Redactors = effect == Effect.Sanitize && sanitizers is not null ? sanitizers : [],
                Shadow = shadow,
                Cost = budget?.Cost ?? Input.Cost,
                ModelPrice = budget?.ModelPrice,
                Approval = effect == Effect.ApprovalNeeded ? approval : null,
                Budgets = budget?.Checks ?? [],
                RateLimits = budget?.Limits ?? [],
            };
        }
    }
}
