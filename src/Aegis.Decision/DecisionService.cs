using System.Diagnostics;
using System.Text.Json;
using Aegis.Decision.Audit;
using Aegis.Decision.Bundles;
using Aegis.Decision.Identity;
using Aegis.Contracts.State;
using Aegis.Decision.Telemetry;
using Aegis.Policy.Decisions;
using Aegis.Policy.Identity;
using Aegis.Policy.Resources;
using Aegis.Policy.Values;

namespace Aegis.Decision;

/// <summary>A call to decide, as either front end (Envoy ext_authz or the JSON API) received it.</summary>
public sealed record DecisionRequest
{
    public string? Token { get; init; }

    /// <summary>A one-time override token minted when a person approved this exact call (x-aegis-override).</summary>
    public string? OverrideToken { get; init; }

    /// <summary>Tenant and agent the sidecar was configured with (ext_authz context extensions), if any.</summary>
    public string? ExpectedTenant { get; init; }

    public string? ExpectedAgent { get; init; }
    public string? Tool { get; init; }
    public JsonElement? Args { get; init; }
    public EgressRequest? Request { get; init; }
    public decimal? Cost { get; init; }
    public string? TraceParent { get; init; }
}

/// <summary>How a front end should answer.</summary>
public enum OutcomeKind
{
    /// <summary>Let the call through (allow, sanitize).</summary>
    Allowed,

    /// <summary>Refuse (deny).</summary>
    Denied,

    /// <summary>Refuse until a person approves.</summary>
    ApprovalRequired,

    /// <summary>Refuse for now: a budget or rate limit (429 with retry-after).</summary>
    Limited,

    /// <summary>Refuse: no valid agent token (401).</summary>
    Unauthenticated,
}

/// <summary>The answer to one <see cref="DecisionRequest"/>.</summary>
public sealed record DecisionOutcome(
    string DecisionId,
    OutcomeKind Kind,
    Effect Effect,
    string Reason,
    string? Policy,
    string? Rule,
    string? Message,
    string? Revision,
    Aegis.Policy.Decisions.Decision? Decision,
    AgentToken? Agent,
    TimeSpan? RetryAfter = null,
    string? ApprovalRequest = null,
    string? ApprovalError = null);

/// <summary>The result of reconciling spend: the agent's spend after it, or why it could not be done.</summary>
public sealed record SpendOutcome(Spend? Spend, string? Reason, string? Message);


/// <summary>Reasons the server adds to the engine's.</summary>
public static class ServerReasons
{
    public const string NoBundle = "no_bundle";
    public const string BudgetStoreUnavailable = "budget_store_unavailable";
    public const string TokenStoreUnavailable = "token_store_unavailable";
    public const string AuditUnavailable = "audit_unavailable";
    public const string OverrideApproved = "override_approved";
    public const string OverrideReplayed = "override_replayed";
    public const string OverrideInvalid = "override_invalid";
    public const string RateLimited = "rate_limited";
    public const string TenantMismatch = "tenant_mismatch";
    public const string AgentMismatch = "agent_mismatch";
    public const string TokenReplayed = "token_replayed";
    public const string RequestMalformed = "request_malformed";
    public const string RedactionUnavailable = "redaction_unavailable";
}

/// <summary>Optional collaborators of <see cref="DecisionService"/>.</summary>
public sealed record DecisionExtensions(Approvals.IApprovalFiler? Approvals = null);

/// <summary>
/// The request path shared by both front ends: identify the agent, find its tenant's bundle, read live spend,
/// decide, then reserve budget and rate-limit tokens. Every failure is a denial with a named reason.
/// </summary>
public sealed class DecisionService(BundleStore bundles, TokenValidator tokens, DecisionState state, DecisionTelemetry telemetry, TimeProvider time, string? region, AuditLog? audit = null, DecisionExtensions? extensions = null)
{
    public async Task<DecisionOutcome> DecideAsync(DecisionRequest request, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var decisionId = Guid.CreateVersion7().ToString("N");
        using var span = StartSpan(request);
        DecisionOutcome outcome;
        try
        {
            outcome = await DecideCoreAsync(decisionId, request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Never allow because something failed: an unexpected error is a denial that says so.
            outcome = Deny(decisionId, "internal_error", e.GetType().Name + ": " + e.Message, null);
        }

        return await RecordAsync(outcome, request, span, started, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Refuses a request that could not be understood (before any token or bundle was looked at), recorded like every
    /// decision: a span, the metrics and an audit record. <paramref name="observed"/> holds what could be read of it.
    /// </summary>
    public async Task<DecisionOutcome> RefuseAsync(DecisionRequest observed, string reason, string message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(observed);
        var started = Stopwatch.GetTimestamp();
        using var span = StartSpan(observed);
        var outcome = Deny(Guid.CreateVersion7().ToString("N"), reason, message, null);
        return await RecordAsync(outcome, observed, span, started, cancellationToken).ConfigureAwait(false);
    }

    private static Activity? StartSpan(DecisionRequest request)
    {
        ActivityContext.TryParse(request.TraceParent, null, isRemote: true, out var parent);

        // The span continues the caller's traceparent or starts a trace; never the host's own unsampled request
        // activity, which a parent-based sampler would follow into dropping every decision span. (An async
        // method's change to Activity.Current does not flow back to its caller.)
        Activity.Current = null;
        return DecisionTelemetry.Source.StartActivity("aegis.decision", ActivityKind.Server, parent);
    }

    /// <summary>Audits (waiting until the record is durable), counts and tags the span of one outcome.</summary>
    private async Task<DecisionOutcome> RecordAsync(DecisionOutcome outcome, DecisionRequest request, Activity? span, long started, CancellationToken cancellationToken)
    {
        var decisionId = outcome.DecisionId;
        if (audit is not null)
        {
            try
            {
                await audit.AppendAsync(AuditRecord(outcome, request, span), cancellationToken).ConfigureAwait(false);
            }
            catch (AuditUnavailableException e)
            {
                // A decision that cannot be recorded is not made.
                outcome = Deny(decisionId, ServerReasons.AuditUnavailable, e.Message, outcome.Agent, outcome.Revision);
            }
        }

        var effect = DecisionJson.EffectName(outcome.Effect);
        telemetry.Record(effect, outcome.Reason, Stopwatch.GetElapsedTime(started));
        if (request.Tool is not null)
        {
            telemetry.RecordToolCall(outcome.Agent?.Tenant, outcome.Reason);
        }
        foreach (var shadow in outcome.Decision?.Shadow ?? [])
        {
            telemetry.RecordShadow(shadow.Policy, DecisionJson.EffectName(shadow.Effect));
        }

        if (span is not null)
        {
            span.SetTag("aegis.decision_id", decisionId);
            span.SetTag("aegis.tenant", outcome.Agent?.Tenant);
            span.SetTag("aegis.agent_id", outcome.Agent?.AgentId);
            span.SetTag("aegis.tool", request.Tool ?? request.Request?.Host);
            span.SetTag("aegis.policy_version", outcome.Revision);
            span.SetTag("aegis.cost_estimate", outcome.Decision?.Cost is { } cost ? Money.Format(cost) : null);
            span.SetTag("aegis.effect", effect);
            span.SetTag("aegis.rule", outcome.Rule is null ? outcome.Policy : $"{outcome.Policy}/{outcome.Rule}");
            span.SetTag("aegis.reason", outcome.Reason);
            span.SetTag("aegis.shadow_effect", outcome.Decision?.Shadow is { Count: > 0 } s ? string.Join(",", s.Select(x => $"{x.Policy}={DecisionJson.EffectName(x.Effect)}")) : null);
            span.SetStatus(outcome.Kind == OutcomeKind.Allowed ? ActivityStatusCode.Ok : ActivityStatusCode.Unset);
        }

        return outcome;
    }

    private async Task<DecisionOutcome> DecideCoreAsync(string decisionId, DecisionRequest request, CancellationToken cancellationToken)
    {
        var check = tokens.Validate(request.Token);
        if (check.Token is not { } agent)
        {
            return new DecisionOutcome(decisionId, OutcomeKind.Unauthenticated, Effect.Deny, check.Reason!, null, null, check.Message, null, null, null);
        }

        try
        {
            if (await state.TokenIds.IsRevokedAsync(agent.Jti, cancellationToken).ConfigureAwait(false))
            {
                return new DecisionOutcome(decisionId, OutcomeKind.Unauthenticated, Effect.Deny, TokenRejection.Revoked, null, null, "the token was revoked", null, null, agent);
            }

            if (agent.SingleUse && !await state.TokenIds.TryConsumeAsync(agent.Jti, agent.ExpiresAt, cancellationToken).ConfigureAwait(false))
            {
                return new DecisionOutcome(decisionId, OutcomeKind.Unauthenticated, Effect.Deny, ServerReasons.TokenReplayed, null, null, "this single-use token was already used", null, null, agent);
            }
        }
        catch (StateStoreUnavailableException e)
        {
            // A single-use token cannot be consumed safely without the shared store: refuse rather than risk a replay.
            return Deny(decisionId, ServerReasons.TokenStoreUnavailable, e.Message, agent);
        }

        if (Admit(decisionId, request, agent, out var bundle) is { } refused)
        {
            return refused;
        }

        var now = time.GetUtcNow();
        var policies = bundle.Policies;
        var input = Input(request, agent, now);

        // Decide once without spend; only a call that budgets apply to reads the store, and is decided again
        // with the live numbers. A call the policy denies anyway never waits on (or fails with) Redis.
        var decision = DecisionEngine.Decide(policies, input);
        var budget = policies.ViewFor(agent.AgentId).Budget;
        var zone = budget?.Zone ?? TimeZoneInfo.Utc;
        var spend = new Spend(0, 0);
        if (decision.Budgets.Count > 0)
        {
            try
            {
                spend = await state.Budgets.GetSpendAsync(agent.Tenant, agent.AgentId, zone, now, cancellationToken).ConfigureAwait(false);
            }
            catch (StateStoreUnavailableException e)
            {
                return Deny(decisionId, ServerReasons.BudgetStoreUnavailable, e.Message, agent, bundle.Revision);
            }

            decision = DecisionEngine.Decide(policies, input with { Budget = new BudgetState(spend.Today, spend.ThisMonth) });
        }

        var outcome = FromDecision(decisionId, decision, agent);
        if (decision.Effect == Effect.ApprovalNeeded && request.OverrideToken is { } overrideToken)
        {
            return await ApplyOverrideAsync(outcome, overrideToken, agent, request, cancellationToken).ConfigureAwait(false);
        }

        if (outcome.Kind == OutcomeKind.ApprovalRequired && extensions?.Approvals is { } approvals)
        {
            // Still refused either way; filing only tells the agent which ApprovalRequest to wait for.
            var filing = request.Tool is { } tool
                ? await approvals.FileAsync(request.Token!, tool, request.Args, decision.Policy, decision.Rule, cancellationToken).ConfigureAwait(false)
                : new Approvals.ApprovalFiling(null, "only tool calls can be approved (an egress request has no x-aegis-tool)");
            return outcome with { ApprovalRequest = filing.Name, ApprovalError = filing.Error };
        }

        if (decision.Reason == DecisionReasons.BudgetExhausted && decision.Effect == Effect.Deny)
        {
            var (_, _, dayEnd, monthEnd) = BudgetPeriods.For(now, zone);
            var dailyFull = budget?.Daily is { } d && spend.Today + (decision.Cost ?? 0) > d;
            return outcome with { Kind = OutcomeKind.Limited, RetryAfter = (dailyFull ? dayEnd : monthEnd) - now };
        }

        if (outcome.Kind != OutcomeKind.Allowed || decision.Budgets.Count == 0)
        {
            return outcome;
        }

        try
        {
            foreach (var limit in decision.RateLimits)
            {
                var rate = await state.RateLimits.TryAcquireAsync($"{agent.Tenant}/{agent.AgentId}/{limit.Budget}/{limit.RequestsPerMinute}", limit.RequestsPerMinute, limit.Burst, now, cancellationToken).ConfigureAwait(false);
                if (!rate.Allowed)
                {
                    return outcome with { Kind = OutcomeKind.Limited, Effect = Effect.Deny, Reason = ServerReasons.RateLimited, Policy = limit.Budget, Rule = null, RetryAfter = rate.RetryAfter, Message = $"rate limit of {limit.RequestsPerMinute} requests per minute reached" };
                }
            }

            if (decision.Cost is { } cost && cost > 0 && !decision.Budgets.Any(b => b.Exhausted))
            {
                // The engine checked the spend it was given; the store checks and adds atomically, so a
                // concurrent replica that reserved first wins and this call is refused.
                var limits = new BudgetLimits(
                    decision.Budgets.Min(b => b.Daily),
                    decision.Budgets.Min(b => b.Monthly),
                    zone);
                var reservation = await state.Budgets.ReserveAsync(agent.Tenant, agent.AgentId, cost, limits, now, cancellationToken).ConfigureAwait(false);
                if (reservation.Reserved)
                {
                    telemetry.RecordSpend(agent.Tenant, agent.AgentId, cost);
                }
                else
                {
                    var (_, _, dayEnd, _) = BudgetPeriods.For(now, zone);
                    return outcome with { Kind = OutcomeKind.Limited, Effect = Effect.Deny, Reason = DecisionReasons.BudgetExhausted, Policy = budget!.Id, Rule = null, RetryAfter = dayEnd - now, Message = "the budget was spent by a concurrent call" };
                }
            }
        }
        catch (StateStoreUnavailableException e)
        {
            return Deny(decisionId, ServerReasons.BudgetStoreUnavailable, e.Message, agent, bundle.Revision);
        }

        return outcome;
    }

    /// <summary>
    /// Decides <paramref name="request"/> by policy alone, for ext_proc, which only needs to know which redactions
    /// apply to a call that ext_authz already decided and charged. It reads and changes no state: no jti is consumed
    /// or looked up, no spend is read or reserved, no rate-limit token is taken, no override is consumed, and nothing
    /// is audited or counted, so a call is never charged twice. Budgets are checked against zero spend, so a budget
    /// can only change the effect where it changed ext_authz's as well.
    /// </summary>
    public DecisionOutcome DecidePolicyOnly(DecisionRequest request, string decisionId)
    {
        ArgumentNullException.ThrowIfNull(request);
        var check = tokens.Validate(request.Token);
        if (check.Token is not { } agent)
        {
            return new DecisionOutcome(decisionId, OutcomeKind.Unauthenticated, Effect.Deny, check.Reason!, null, null, check.Message, null, null, null);
        }

        if (Admit(decisionId, request, agent, out var bundle) is { } refused)
        {
            return refused;
        }

        return FromDecision(decisionId, DecisionEngine.Decide(bundle.Policies, Input(request, agent, time.GetUtcNow())), agent);
    }

    /// <summary>The sidecar's tenant and agent, when configured, must be the token's, and the tenant must have a bundle.</summary>
    private DecisionOutcome? Admit(string decisionId, DecisionRequest request, AgentToken agent, out ActiveBundle bundle)
    {
        bundle = null!;
        if (request.ExpectedTenant is { Length: > 0 } tenant && tenant != agent.Tenant)
        {
            return Deny(decisionId, ServerReasons.TenantMismatch, $"the token is for tenant \"{agent.Tenant}\", the sidecar for \"{tenant}\"", agent);
        }

        if (request.ExpectedAgent is { Length: > 0 } agentId && agentId != agent.AgentId)
        {
            return Deny(decisionId, ServerReasons.AgentMismatch, $"the token is for agent \"{agent.AgentId}\", the sidecar for \"{agentId}\"", agent);
        }

        if (bundles.Get(agent.Tenant) is not { } active)
        {
            return Deny(decisionId, ServerReasons.NoBundle, $"no valid bundle for tenant \"{agent.Tenant}\"", agent);
        }

        bundle = active;
        return null;
    }

    private DecisionInput Input(DecisionRequest request, AgentToken agent, DateTimeOffset now) => new()
    {
        Tenant = agent.Tenant,
        Agent = new AgentIdentity(agent.AgentId, agent.Org, agent.Scopes),
        Tool = request.Tool,
        Args = request.Args,
        Request = request.Request,
        Cost = request.Cost,
        Region = region,
        Now = now,
    };

    /// <summary>
    /// An approval_needed call that presents an override token is allowed once when the token is valid, single-use,
    /// and bound to exactly this tenant, agent, tool and arguments; its jti is consumed atomically, so a second
    /// use is denied with override_replayed.
    /// </summary>
    private async Task<DecisionOutcome> ApplyOverrideAsync(DecisionOutcome outcome, string token, AgentToken agent, DecisionRequest request, CancellationToken cancellationToken)
    {
        var check = tokens.Validate(token);
        if (check.Token is not { } grant)
        {
            return outcome with { Kind = OutcomeKind.Denied, Effect = Effect.Deny, Reason = ServerReasons.OverrideInvalid, Message = $"override token refused: {check.Reason}: {check.Message}" };
        }

        var digest = AgentTokens.ArgsDigest(request.Args);
        string? mismatch = !grant.SingleUse ? "it is not single-use (use: once)"
            : grant.Tenant != agent.Tenant ? $"it is for tenant \"{grant.Tenant}\""
            : grant.AgentId != agent.AgentId ? $"it is for agent \"{grant.AgentId}\""
            : grant.Tool != request.Tool ? $"it is for tool \"{grant.Tool}\""
            : grant.ArgsDigest != digest ? "it was approved for other arguments"
            : null;
        if (mismatch is not null)
        {
            return outcome with { Kind = OutcomeKind.Denied, Effect = Effect.Deny, Reason = ServerReasons.OverrideInvalid, Message = "the override token does not cover this call: " + mismatch };
        }

        try
        {
            if (!await state.TokenIds.TryConsumeAsync(grant.Jti, grant.ExpiresAt, cancellationToken).ConfigureAwait(false))
            {
                return outcome with { Kind = OutcomeKind.Denied, Effect = Effect.Deny, Reason = ServerReasons.OverrideReplayed, Message = "this override token was already used" };
            }
        }
        catch (StateStoreUnavailableException e)
        {
            return outcome with { Kind = OutcomeKind.Denied, Effect = Effect.Deny, Reason = ServerReasons.TokenStoreUnavailable, Message = e.Message };
        }

        return outcome with { Kind = OutcomeKind.Allowed, Effect = Effect.Allow, Reason = ServerReasons.OverrideApproved, Message = $"approved once (override {grant.Jti})" };
    }

    /// <summary>
    /// Corrects an agent's spend once a call's actual cost is known (<c>POST /v1/spend</c>): adds actual − reserved
    /// to the day and month the reservation was made in. The agent comes from its token.
    /// </summary>
    public async Task<SpendOutcome> ReconcileAsync(string? token, decimal reserved, decimal actual, DateTimeOffset? reservedAt, CancellationToken cancellationToken = default)
    {
        var check = tokens.Validate(token);
        if (check.Token is not { } agent)
        {
            return new SpendOutcome(null, check.Reason, check.Message);
        }

        if (bundles.Get(agent.Tenant) is not { } bundle)
        {
            return new SpendOutcome(null, ServerReasons.NoBundle, $"no valid bundle for tenant \"{agent.Tenant}\"");
        }

        if (bundle.Policies.ViewFor(agent.AgentId).Budget is not { } budget)
        {
            return new SpendOutcome(null, "no_budget", $"no AgentBudget of tenant \"{agent.Tenant}\" selects agent \"{agent.AgentId}\"");
        }

        try
        {
            var spend = await state.Budgets.ReconcileAsync(agent.Tenant, agent.AgentId, reserved, actual, budget.Zone, reservedAt ?? time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            telemetry.RecordSpend(agent.Tenant, agent.AgentId, actual - reserved);
            return new SpendOutcome(spend, null, null);
        }
        catch (StateStoreUnavailableException e)
        {
            return new SpendOutcome(null, ServerReasons.BudgetStoreUnavailable, e.Message);
        }
    }

    /// <summary>
    /// The audit record of an outcome: values only (digest, redacted args as text), never the request's pooled JSON.
    /// Raw arguments only when the deciding policy opted in (spec.audit.includeArgs), redacted by its redactors.
    /// </summary>
    private AuditEntry AuditRecord(DecisionOutcome outcome, DecisionRequest request, Activity? span)
    {
        var decision = outcome.Decision;
        var reserved = outcome.Kind == OutcomeKind.Allowed && outcome.Reason != ServerReasons.OverrideApproved
            && decision is { Budgets.Count: > 0, Cost: > 0 } && !decision.Budgets.Any(b => b.Exhausted)
            ? decision.Cost
            : null;
        return new AuditEntry
        {
            Time = time.GetUtcNow(),
            DecisionId = outcome.DecisionId,
            TraceId = span is not null ? span.TraceId.ToHexString() : ActivityContext.TryParse(request.TraceParent, null, out var caller) ? caller.TraceId.ToHexString() : null,
            Tenant = outcome.Agent?.Tenant,
            AgentId = outcome.Agent?.AgentId,
            Tool = request.Tool,
            ArgsDigest = request.Tool is null ? null : AgentTokens.ArgsDigest(request.Args),
            Method = request.Request?.Method,
            Host = request.Request?.Host,
            Path = request.Request?.Path,
            Effect = DecisionJson.EffectName(outcome.Effect),
            Reason = outcome.Reason,
            Policy = outcome.Policy,
            Rule = outcome.Rule,
            Revision = outcome.Revision,
            Cost = decision?.Cost,
            Reserved = reserved,
            Message = outcome.Message,
            Redactions = decision?.Redactions.Sum(r => r.Count) ?? 0,
            RedactionKinds = decision is { Redactions.Count: > 0 } ? [.. decision.Redactions.Select(r => r.Detector).Distinct(StringComparer.Ordinal)] : [],
            Shadow = decision?.Shadow ?? [],
            Args = outcome.Agent is { } agent ? AuditArgs.ForPolicy(bundles.Get(agent.Tenant)?.Policies, outcome.Policy, request.Args, decision) : null,
        };
    }

    private static DecisionOutcome FromDecision(string decisionId, Aegis.Policy.Decisions.Decision decision, AgentToken agent)
    {
        var kind = decision.Effect switch
        {
            Effect.Allow or Effect.Sanitize => OutcomeKind.Allowed,
            Effect.ApprovalNeeded => OutcomeKind.ApprovalRequired,
            _ => OutcomeKind.Denied,
        };
        return new DecisionOutcome(decisionId, kind, decision.Effect, decision.Reason, decision.Policy, decision.Rule, decision.Message, decision.Revision, decision, agent);
    }

    private static DecisionOutcome Deny(string decisionId, string reason, string message, AgentToken? agent, string? revision = null) =>
        new(decisionId, OutcomeKind.Denied, Effect.Deny, reason, null, null, message, revision, null, agent);
}
