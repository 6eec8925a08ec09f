using System.Diagnostics;
using System.Text.Json;
using Aegis.Decision.Audit;
using Aegis.Decision.Bundles;
using Aegis.Decision.Calls;
using Aegis.Decision.ExtAuthz;
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

    /// <summary>
    /// The request as the sidecar or the gateway observed it. When set, the tool, its arguments and the destination
    /// are read from it (<see cref="CallReader"/>), and <see cref="Tool"/>, <see cref="Args"/> and <see cref="Request"/>
    /// are ignored: on this path nothing the agent claims about its call is an input.
    /// </summary>
    public ObservedRequest? Observed { get; init; }

    /// <summary>The tool as a cooperative caller (<c>POST /v1/decide</c>) states it.</summary>
    public string? Tool { get; init; }

    public JsonElement? Args { get; init; }
    public EgressRequest? Request { get; init; }

    /// <summary>A cost estimate; it may raise the reservation priced from the ToolServer, never lower it.</summary>
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
    string? ApprovalError = null)
{
    /// <summary>
    /// The call as read off the wire (sidecar and gateway path), so the front end can answer in its protocol; it owns
    /// the parsed body the arguments point into: the front end disposes it after answering.
    /// </summary>
    public ObservedCall? Call { get; init; }

    /// <summary>The id the call's cost was reserved under, when budgets reserved any: settle it with <see cref="DecisionService.SettleAsync(string, string, string, decimal, CancellationToken)"/>.</summary>
    public string? ReservationId { get; init; }
}

/// <summary>The result of settling a reservation: what the store did, or why it could not be asked.</summary>
public sealed record SettlementOutcome(Settlement? Settlement, string? Reason, string? Message);


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
    public const string ReservationUnknown = "reservation_unknown";
    public const string ApprovalGranted = "approval_granted";
    public const string ApprovalStoreUnavailable = "approval_store_unavailable";
    public const string ReservationSettled = "reservation_already_settled";

    /// <summary>The issuer recorded for an agent identified by its sidecar's configuration rather than a token.</summary>
    public const string SidecarIssuer = "aegis-sidecar";
}

/// <summary>Optional collaborators of <see cref="DecisionService"/>.</summary>
public sealed record DecisionExtensions(Approvals.IApprovalFiler? Approvals = null)
{
    /// <summary>
    /// How long a decision waits for an approval filing before answering approval_needed without the request's
    /// name (the filing goes on; a retry learns it). Well under the sidecar's ext_authz timeout.
    /// </summary>
    public TimeSpan ApprovalWait { get; init; } = TimeSpan.FromMilliseconds(150);
}

/// <summary>
/// The request path shared by every front end: identify the agent, find its tenant's bundle, read the call off the
/// wire, decide, then reserve budget and rate-limit tokens. Every failure is a denial with a named reason.
/// </summary>
public sealed class DecisionService(BundleStore bundles, TokenValidator tokens, DecisionState state, DecisionTelemetry telemetry, TimeProvider time, string? region, AuditLog? audit = null, DecisionExtensions? extensions = null)
{
    private readonly Approvals.ApprovalFilings? _filings = extensions?.Approvals is { } filer ? new Approvals.ApprovalFilings(filer, extensions.ApprovalWait, time) : null;

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
                outcome = Deny(decisionId, ServerReasons.AuditUnavailable, e.Message, outcome.Agent, outcome.Revision) with { Call = outcome.Call };
            }
        }

        var effect = DecisionJson.EffectName(outcome.Effect);
        telemetry.Record(effect, outcome.Reason, Stopwatch.GetElapsedTime(started));
        if ((outcome.Call?.Tool ?? request.Tool) is not null)
        {
            telemetry.RecordToolCall(outcome.Agent?.Tenant, outcome.Reason);
        }
        foreach (var shadow in outcome.Decision?.Shadow ?? [])
        {
            telemetry.RecordShadow(shadow.Policy, DecisionJson.EffectName(shadow.Effect));
        }

        if (span is not null)
        {
            Tag(span, outcome, request, effect);
        }

        return outcome;
    }

    private static void Tag(Activity span, DecisionOutcome outcome, DecisionRequest request, string effect)
    {
        var call = outcome.Call;
        var tool = call?.Tool ?? (request.Observed is null ? request.Tool : null);
        span.SetTag("aegis.decision_id", outcome.DecisionId);
        span.SetTag("aegis.tenant", outcome.Agent?.Tenant);
        span.SetTag("aegis.agent_id", outcome.Agent?.AgentId);
        span.SetTag("aegis.tool", tool ?? request.Observed?.Authority ?? request.Request?.Host);
        span.SetTag("aegis.policy_version", outcome.Revision);
        span.SetTag("aegis.cost_estimate", outcome.Decision?.Cost is { } cost ? Money.Format(cost) : null);
        span.SetTag("aegis.effect", effect);
        span.SetTag("aegis.rule", outcome.Rule is null ? outcome.Policy : $"{outcome.Policy}/{outcome.Rule}");
        span.SetTag("aegis.reason", outcome.Reason);
        span.SetTag("aegis.tool_server", call?.Server?.Id);
        span.SetTag("aegis.shadow_effect", outcome.Decision?.Shadow is { Count: > 0 } s ? string.Join(",", s.Select(x => $"{x.Policy}={DecisionJson.EffectName(x.Effect)}")) : null);

        // OpenTelemetry GenAI and MCP semantic conventions (REFERENCE.md §13).
        span.SetTag("gen_ai.agent.id", outcome.Agent?.AgentId);
        if (tool is not null)
        {
            span.SetTag("gen_ai.tool.name", tool);
        }

        if (call?.Llm is { } llm)
        {
            span.SetTag("gen_ai.operation.name", tool?.EndsWith("embeddings", StringComparison.Ordinal) == true ? "embeddings" : "chat");
            span.SetTag("gen_ai.provider.name", call.Server!.Protocol == ToolProtocol.Anthropic ? "anthropic" : "openai");
            span.SetTag("gen_ai.request.model", llm.Model);
            span.SetTag("aegis.usage.input_tokens_estimate", llm.InputTokens);
            span.SetTag("aegis.usage.output_tokens_limit", llm.MaxOutputTokens);
        }
        else if (tool is not null)
        {
            span.SetTag("gen_ai.operation.name", "execute_tool");
        }

        if (call?.McpMethod is { } method)
        {
            span.SetTag("mcp.method.name", method);
            span.SetTag("jsonrpc.request.id", call.McpId);
            span.SetTag("mcp.session.id", request.Observed?.Header("mcp-session-id"));
        }

        span.SetStatus(outcome.Kind == OutcomeKind.Allowed ? ActivityStatusCode.Ok : ActivityStatusCode.Unset);
    }

    private async Task<DecisionOutcome> DecideCoreAsync(string decisionId, DecisionRequest request, CancellationToken cancellationToken)
    {
        var (agent, refused) = await IdentifyAsync(decisionId, request, cancellationToken).ConfigureAwait(false);
        if (refused is not null)
        {
            // Read the call with the sidecar's tenant's catalog, when there is one, only to refuse in its protocol.
            return request.Observed is { } unidentified && request.ExpectedTenant is { } expected && bundles.Get(expected) is { } theirs
                ? refused with { Call = CallReader.Read(unidentified, theirs.Policies.Tools) }
                : refused;
        }

        if (Admit(decisionId, request, agent!, out var bundle) is { } notAdmitted)
        {
            return notAdmitted;
        }

        var call = request.Observed is { } observed ? CallReader.Read(observed, bundle.Policies.Tools) : null;
        try
        {
            var outcome = await DecideCallAsync(decisionId, request, agent!, bundle, call, cancellationToken).ConfigureAwait(false);
            return outcome with { Call = call };
        }
        catch
        {
            call?.Dispose();
            throw;
        }
    }

    private async Task<DecisionOutcome> DecideCallAsync(string decisionId, DecisionRequest request, AgentToken agent, ActiveBundle bundle, ObservedCall? call, CancellationToken cancellationToken)
    {
        if (call is { Kind: CallKind.Refused })
        {
            return Deny(decisionId, call.Reason!, call.Message!, agent, bundle.Revision);
        }

        var now = time.GetUtcNow();
        var input = Input(request, agent, now, call);
        var (decision, spend, refusal) = await DecideWithSpendAsync(decisionId, input, agent, bundle, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        var outcome = FromDecision(decisionId, decision!, agent);
        if (decision!.Effect == Effect.ApprovalNeeded && request.OverrideToken is { } overrideToken)
        {
            return await ApplyOverrideAsync(outcome, overrideToken, agent, input, bundle, cancellationToken).ConfigureAwait(false);
        }

        if (outcome.Kind == OutcomeKind.ApprovalRequired)
        {
            return await ApproveOrFileAsync(outcome, input, request, agent, bundle, cancellationToken).ConfigureAwait(false);
        }

        return await FinishAsync(outcome, decision, spend, agent, bundle, now, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Decides once without spend; only a call that budgets apply to reads the store, and is decided again with the
    /// live numbers. A call the policy denies anyway never waits on (or fails with) Redis.
    /// </summary>
    private async Task<(Aegis.Policy.Decisions.Decision? Decision, Spend Spend, DecisionOutcome? Refusal)> DecideWithSpendAsync(string decisionId, DecisionInput input, AgentToken agent, ActiveBundle bundle, CancellationToken cancellationToken)
    {
        var decision = DecisionEngine.Decide(bundle.Policies, input);
        if (decision.Budgets.Count == 0)
        {
            return (decision, new Spend(0, 0), null);
        }

        var zone = bundle.Policies.ViewFor(agent.AgentId).Budget?.Zone ?? TimeZoneInfo.Utc;
        try
        {
            var spend = await state.Budgets.GetSpendAsync(agent.Tenant, agent.AgentId, zone, input.Now, cancellationToken).ConfigureAwait(false);
            return (DecisionEngine.Decide(bundle.Policies, input with { Budget = new BudgetState(spend.Today, spend.ThisMonth) }), spend, null);
        }
        catch (StateStoreUnavailableException e)
        {
            return (null, new Spend(0, 0), Deny(decisionId, ServerReasons.BudgetStoreUnavailable, e.Message, agent, bundle.Revision));
        }
    }

    /// <summary>Budget exhaustion as a 429 with the time it resets; otherwise the charge of an allowed call.</summary>
    private async Task<DecisionOutcome> FinishAsync(DecisionOutcome outcome, Aegis.Policy.Decisions.Decision decision, Spend spend, AgentToken agent, ActiveBundle bundle, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var budget = bundle.Policies.ViewFor(agent.AgentId).Budget;
        var zone = budget?.Zone ?? TimeZoneInfo.Utc;
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

        return await ChargeAsync(outcome, decision, agent, budget, zone, now, bundle.Revision, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// An approval_needed call: when a person already granted exactly this call (agent, tool, arguments, rule), it is
    /// decided again as allowed by that rule, still passes budgets and rate limits and is charged, and one use of the
    /// grant is taken atomically (given back if the call is refused after all). Otherwise the call is filed (without
    /// waiting longer than the sidecar does) and refused with the request's name: the agent retries once approved.
    /// </summary>
    private async Task<DecisionOutcome> ApproveOrFileAsync(DecisionOutcome outcome, DecisionInput input, DecisionRequest request, AgentToken agent, ActiveBundle bundle, CancellationToken cancellationToken)
    {
        if (input.Tool is not { } tool || outcome.Policy is not { } policy)
        {
            return outcome with { ApprovalError = "only tool calls can be approved (this request is plain egress)" };
        }

        var key = new ApprovalKey(agent.Tenant, agent.AgentId, tool, AgentTokens.ArgsDigest(input.Args), policy, outcome.Rule);
        if (state.Grants is { } grants)
        {
            try
            {
                if (await grants.HasAsync(key, input.Now, cancellationToken).ConfigureAwait(false))
                {
                    var granted = await DecideGrantedAsync(outcome, input with { Granted = new GrantedApproval(policy, outcome.Rule) }, key, grants, agent, bundle, cancellationToken).ConfigureAwait(false);
                    if (granted is not null)
                    {
                        _filings?.Forget(key);
                        return granted;
                    }
                }
            }
            catch (StateStoreUnavailableException e)
            {
                return Deny(outcome.DecisionId, ServerReasons.ApprovalStoreUnavailable, "approval grants cannot be read: " + e.Message, agent, bundle.Revision);
            }
        }

        if (_filings is null)
        {
            return outcome with { ApprovalError = "no approvals desk is configured for this decision server" };
        }

        var filing = await _filings.FileAsync(new Approvals.ApprovalCall
        {
            Key = key,
            Args = input.Args ?? Calls.McpCallReader.EmptyObject.Value,
            Approval = outcome.Decision!.Approval ?? new ApprovalSpec(),
            AgentToken = request.Token,
        }, cancellationToken).ConfigureAwait(false);
        return filing.Refusal is { } refusal
            ? outcome with { Kind = OutcomeKind.Denied, Effect = Effect.Deny, Reason = refusal, Message = filing.Error }
            : outcome with { ApprovalRequest = filing.Name, ApprovalError = filing.Error };
    }

    /// <summary>The call decided with its grant: null when the grant was taken by a concurrent call (still approval_needed).</summary>
    private async Task<DecisionOutcome?> DecideGrantedAsync(DecisionOutcome pending, DecisionInput input, ApprovalKey key, IApprovalGrants grants, AgentToken agent, ActiveBundle bundle, CancellationToken cancellationToken)
    {
        var (decision, spend, refusal) = await DecideWithSpendAsync(pending.DecisionId, input, agent, bundle, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        var outcome = FromDecision(pending.DecisionId, decision!, agent);
        if (outcome.Kind != OutcomeKind.Allowed)
        {
            // Something else holds the call back (a budget): the grant stays for when it fits.
            return await FinishAsync(outcome, decision!, spend, agent, bundle, input.Now, cancellationToken).ConfigureAwait(false);
        }

        if (!await grants.TryConsumeAsync(key, input.Now, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var charged = await FinishAsync(outcome with { Reason = ServerReasons.ApprovalGranted, Message = $"approved by a person ({key.Policy}{(key.Rule is null ? "" : "/" + key.Rule)})" }, decision!, spend, agent, bundle, input.Now, cancellationToken).ConfigureAwait(false);
        if (charged.Kind != OutcomeKind.Allowed)
        {
            await grants.RestoreAsync(key, cancellationToken).ConfigureAwait(false);
        }

        return charged;
    }

    /// <summary>Takes the rate-limit tokens and reserves the cost of an allowed, budgeted call; a refusal says which.</summary>
    private async Task<DecisionOutcome> ChargeAsync(DecisionOutcome outcome, Aegis.Policy.Decisions.Decision decision, AgentToken agent, CompiledBudget? budget, TimeZoneInfo zone, DateTimeOffset now, string revision, CancellationToken cancellationToken)
    {
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
                // concurrent replica that reserved first wins and this call is refused. The decision id is the
                // reservation id: the sidecar settles the call by it once it has seen the usage.
                var limits = new BudgetLimits(
                    decision.Budgets.Min(b => b.Daily),
                    decision.Budgets.Min(b => b.Monthly),
                    zone);
                var reservation = await state.Budgets.ReserveAsync(agent.Tenant, agent.AgentId, cost, limits, now, outcome.DecisionId, cancellationToken).ConfigureAwait(false);
                if (!reservation.Reserved)
                {
                    var (_, _, dayEnd, _) = BudgetPeriods.For(now, zone);
                    return outcome with { Kind = OutcomeKind.Limited, Effect = Effect.Deny, Reason = DecisionReasons.BudgetExhausted, Policy = budget!.Id, Rule = null, RetryAfter = dayEnd - now, Message = "the budget was spent by a concurrent call" };
                }

                telemetry.RecordSpend(agent.Tenant, agent.AgentId, cost);
                return outcome with { ReservationId = outcome.DecisionId };
            }
        }
        catch (StateStoreUnavailableException e)
        {
            return Deny(outcome.DecisionId, ServerReasons.BudgetStoreUnavailable, e.Message, agent, revision);
        }

        return outcome;
    }

    /// <summary>
    /// Decides <paramref name="request"/> by policy alone, for ext_proc, which only needs to know which redactions
    /// apply to a call that ext_authz already decided and charged. It reads and changes no state: no jti is consumed
    /// or looked up, no spend is read or reserved, no rate-limit token is taken, no override is consumed, and nothing
    /// is audited or counted, so a call is never charged twice. Budgets are checked against zero spend, so a budget
    /// can only change the effect where it changed ext_authz's as well. The caller disposes the outcome's call.
    /// </summary>
    public DecisionOutcome DecidePolicyOnly(DecisionRequest request, string decisionId)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            var (agent, refusal) = Identify(request);
            if (refusal is not null)
            {
                return refusal with { DecisionId = decisionId };
            }

            if (Admit(decisionId, request, agent!, out var bundle) is { } refused)
            {
                return refused;
            }

            var call = request.Observed is { } observed ? CallReader.Read(observed, bundle.Policies.Tools) : null;
            if (call is { Kind: CallKind.Refused })
            {
                return Deny(decisionId, call.Reason!, call.Message!, agent, bundle.Revision) with { Call = call };
            }

            return FromDecision(decisionId, DecisionEngine.Decide(bundle.Policies, Input(request, agent!, time.GetUtcNow(), call)), agent!) with { Call = call };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Deny(decisionId, "internal_error", e.GetType().Name + ": " + e.Message, null);
        }
    }

    /// <summary>
    /// The agent: from its token when it sends one (the token must verify, and match the sidecar's identity when the
    /// sidecar is configured), else from the sidecar's own configuration, which the webhook set from the pod's
    /// namespace and labels: a tunnel (CONNECT, SNI) carries no token, and SDKs need no code change to add one.
    /// </summary>
    private (AgentToken? Agent, DecisionOutcome? Refusal) Identify(DecisionRequest request)
    {
        var sidecar = request.Observed is not null && request.ExpectedTenant is { Length: > 0 } && request.ExpectedAgent is { Length: > 0 };
        if (request.Token is null && sidecar)
        {
            return SidecarIdentity(request);
        }

        var check = tokens.Validate(request.Token);
        if (check.Token is { } agent)
        {
            return (agent, null);
        }

        // A bearer JWT signed by nobody Aegis knows is the upstream's credential, not the agent's token: the sidecar
        // still knows who is calling. A token of a key Aegis knows that fails (expired, forged, revoked) is refused.
        if (sidecar && check.Reason == TokenRejection.UnknownKid && request.Observed!.Header(CheckRequestMapper.TokenHeader) is null)
        {
            return SidecarIdentity(request);
        }

        return (null, new DecisionOutcome("", OutcomeKind.Unauthenticated, Effect.Deny, check.Reason!, null, null, check.Message, null, null, null));
    }

    private (AgentToken? Agent, DecisionOutcome? Refusal) SidecarIdentity(DecisionRequest request)
    {
        var now = time.GetUtcNow();
        var agent = new AgentToken
        {
            Issuer = ServerReasons.SidecarIssuer,
            Audience = "",
            AgentId = request.ExpectedAgent!,
            Tenant = request.ExpectedTenant!,
            Jti = "",
            IssuedAt = now,
            ExpiresAt = now,
            KeyId = "",
        };
        return tokens.CheckSidecarAgent(agent) is { } reason
            ? (null, new DecisionOutcome("", OutcomeKind.Unauthenticated, Effect.Deny, reason, null, null, $"agent \"{agent.AgentId}\" of tenant \"{agent.Tenant}\" may not call now: {reason}", null, null, agent))
            : (agent, null);
    }

    /// <summary>Identifies the agent and checks its token against the shared store (revoked, single-use consumed).</summary>
    private async Task<(AgentToken? Agent, DecisionOutcome? Refusal)> IdentifyAsync(string decisionId, DecisionRequest request, CancellationToken cancellationToken)
    {
        var (agent, refusal) = Identify(request);
        if (refusal is not null)
        {
            return (null, refusal with { DecisionId = decisionId });
        }

        if (agent!.Issuer == ServerReasons.SidecarIssuer)
        {
            return (agent, null);
        }

        // Revocation was checked by the validator against the local list: no Redis round trip per decision.
        try
        {
            if (agent.SingleUse && !await state.TokenIds.TryConsumeAsync(agent.Jti, agent.ExpiresAt, cancellationToken).ConfigureAwait(false))
            {
                return (agent, new DecisionOutcome(decisionId, OutcomeKind.Unauthenticated, Effect.Deny, ServerReasons.TokenReplayed, null, null, "this single-use token was already used", null, null, agent));
            }
        }
        catch (StateStoreUnavailableException e)
        {
            // A single-use token cannot be consumed safely without the shared store: refuse rather than risk a replay.
            return (agent, Deny(decisionId, ServerReasons.TokenStoreUnavailable, e.Message, agent));
        }

        return (agent, null);
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

    /// <summary>
    /// The engine's input. On the observed path the tool, arguments, ToolServer and LLM request come from the call as
    /// read, and the destination from what Envoy routed on; on the cooperative path they are what the caller stated.
    /// </summary>
    private DecisionInput Input(DecisionRequest request, AgentToken agent, DateTimeOffset now, ObservedCall? call)
    {
        var observed = request.Observed;
        return new DecisionInput
        {
            Tenant = agent.Tenant,
            Agent = new AgentIdentity(agent.AgentId, agent.Org, agent.Scopes),
            Tool = observed is null ? request.Tool : call?.Tool,
            Args = observed is null ? request.Args : call?.Args,
            Request = observed is null ? request.Request : new EgressRequest(observed.Method, observed.Authority, observed.Path, observed.Headers),
            ToolServer = call?.Server?.Id,
            Llm = call?.Llm,
            Passthrough = call?.Kind == CallKind.Protocol,
            Tunnel = observed is not null && (observed.Tunnel || observed.Method == "CONNECT"),
            Cost = request.Cost,
            Region = region,
            Now = now,
        };
    }

    /// <summary>
    /// An approval_needed call that presents an override token is allowed once when the token is valid, single-use,
    /// and bound to exactly this tenant, agent, tool and arguments; its jti is consumed atomically, so a second
    /// use is denied with override_replayed.
    /// </summary>
    private async Task<DecisionOutcome> ApplyOverrideAsync(DecisionOutcome outcome, string token, AgentToken agent, DecisionInput input, ActiveBundle bundle, CancellationToken cancellationToken)
    {
        var check = tokens.Validate(token);
        if (check.Token is not { } grant)
        {
            return outcome with { Kind = OutcomeKind.Denied, Effect = Effect.Deny, Reason = ServerReasons.OverrideInvalid, Message = $"override token refused: {check.Reason}: {check.Message}" };
        }

        var digest = AgentTokens.ArgsDigest(input.Args);
        string? mismatch = !grant.SingleUse ? "it is not single-use (use: once)"
            : grant.Tenant != agent.Tenant ? $"it is for tenant \"{grant.Tenant}\""
            : grant.AgentId != agent.AgentId ? $"it is for agent \"{grant.AgentId}\""
            : grant.Tool != input.Tool ? $"it is for tool \"{grant.Tool}\""
            : grant.ArgsDigest != digest ? "it was approved for other arguments"
            : null;
        if (mismatch is not null)
        {
            return outcome with { Kind = OutcomeKind.Denied, Effect = Effect.Deny, Reason = ServerReasons.OverrideInvalid, Message = "the override token does not cover this call: " + mismatch };
        }

        // Approved is not free: the call is decided again as allowed by the rule that asked, and still passes
        // budgets and rate limits and is charged. The token is only spent on a call that goes through.
        var (decision, spend, refusal) = await DecideWithSpendAsync(outcome.DecisionId, input with { Granted = new GrantedApproval(outcome.Policy ?? "", outcome.Rule) }, agent, bundle, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        var approved = FromDecision(outcome.DecisionId, decision!, agent);
        if (approved.Kind != OutcomeKind.Allowed)
        {
            return await FinishAsync(approved, decision!, spend, agent, bundle, input.Now, cancellationToken).ConfigureAwait(false);
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

        return await FinishAsync(approved with { Reason = ServerReasons.OverrideApproved, Message = $"approved once (override {grant.Jti})" }, decision!, spend, agent, bundle, input.Now, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Settles reservation <paramref name="reservationId"/> of <paramref name="tenant"/>'s agent to the cost measured
    /// for it: exactly once across every replica (the store marks it), never below zero. Called by ext_proc and the
    /// gateway once they have read the call's usage off the response, and by a trusted meter through
    /// <c>POST /v1/spend</c>; never with anything the agent says.
    /// </summary>
    public async Task<SettlementOutcome> SettleAsync(string tenant, string agentId, string reservationId, decimal actual, CancellationToken cancellationToken = default) =>
        await SettleAsync(tenant, agentId, reservationId, actual, detail: null, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// <see cref="SettleAsync(string, string, string, decimal, CancellationToken)"/>, with <paramref name="detail"/>
    /// saying where the figure came from (the observed usage) in the audit record the settlement leaves.
    /// </summary>
    public async Task<SettlementOutcome> SettleAsync(string tenant, string agentId, string reservationId, decimal actual, string? detail, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actual);
        Settlement settlement;
        try
        {
            settlement = await state.Budgets.SettleAsync(tenant, reservationId, actual, cancellationToken).ConfigureAwait(false);
        }
        catch (StateStoreUnavailableException e)
        {
            return new SettlementOutcome(null, ServerReasons.BudgetStoreUnavailable, e.Message);
        }

        switch (settlement.Status)
        {
            case SettlementStatus.Settled:
                telemetry.RecordSpend(tenant, agentId, actual - settlement.Reserved);
                var unaudited = await AuditSettlementAsync(new AuditSettlement
                {
                    Time = time.GetUtcNow(),
                    DecisionId = reservationId,
                    TraceId = Activity.Current?.TraceId.ToHexString(),
                    Tenant = tenant,
                    AgentId = agentId,
                    Reserved = settlement.Reserved,
                    Settled = actual,
                    Detail = detail,
                }, cancellationToken).ConfigureAwait(false);
                return new SettlementOutcome(settlement, null, unaudited);
            case SettlementStatus.AlreadySettled:
                return new SettlementOutcome(settlement, ServerReasons.ReservationSettled, $"reservation {reservationId} was settled before; nothing changed");
            default:
                return new SettlementOutcome(settlement, ServerReasons.ReservationUnknown, $"no reservation {reservationId} of tenant \"{tenant}\" (never made, or its month has ended)");
        }
    }

    // The spend has changed whatever happens here: a settlement the log cannot take is reported (the message), not
    // undone, and the decision record already holds what was reserved.
    private async ValueTask<string?> AuditSettlementAsync(AuditSettlement record, CancellationToken cancellationToken)
    {
        if (audit is null)
        {
            return null;
        }

        try
        {
            await audit.AppendSettlementAsync(record, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (AuditUnavailableException e)
        {
            return "settled, but the settlement is not in the audit log: " + e.Message;
        }
    }

    /// <summary>
    /// Which tools of ToolServer <paramref name="serverId"/> a tools/list answer may show <paramref name="agentId"/>
    /// (bare MCP names, without the prefix): those it could ever be allowed to call under the current bundle. With
    /// no bundle, or a server the bundle no longer has, nothing is shown.
    /// </summary>
    public Func<string, bool> ToolsListFilter(string tenant, string agentId, string? serverId, ObservedRequest via)
    {
        ArgumentNullException.ThrowIfNull(via);
        if (bundles.Get(tenant) is not { } bundle || serverId is null || bundle.Policies.Tools.ById(serverId) is not { } server)
        {
            return _ => false;
        }

        var request = new EgressRequest(via.Method, via.Authority, via.Path, via.Headers);
        return name => DecisionEngine.MayEverAllow(bundle.Policies, agentId, server.Prefix + name, request);
    }

    /// <summary>
    /// The audit record of an outcome: values only (digest, redacted args as text), never the request's pooled JSON.
    /// Raw arguments only when the deciding policy opted in (spec.audit.includeArgs), redacted by its redactors.
    /// </summary>
    private AuditEntry AuditRecord(DecisionOutcome outcome, DecisionRequest request, Activity? span)
    {
        var decision = outcome.Decision;
        var observed = request.Observed;
        var destination = observed is null ? request.Request : new EgressRequest(observed.Method, observed.Authority, observed.Path);
        var tool = outcome.Call?.Tool ?? (observed is null ? request.Tool : null);
        var args = outcome.Call is { } call ? call.Args : request.Args;
        return new AuditEntry
        {
            Time = time.GetUtcNow(),
            DecisionId = outcome.DecisionId,
            TraceId = span is not null ? span.TraceId.ToHexString() : ActivityContext.TryParse(request.TraceParent, null, out var caller) ? caller.TraceId.ToHexString() : null,
            Tenant = outcome.Agent?.Tenant,
            AgentId = outcome.Agent?.AgentId,
            Tool = tool,
            ArgsDigest = tool is null ? null : AgentTokens.ArgsDigest(args),
            Method = destination?.Method,
            Host = destination?.Host,
            Path = destination?.Path,
            Effect = DecisionJson.EffectName(outcome.Effect),
            Reason = outcome.Reason,
            Policy = outcome.Policy,
            Rule = outcome.Rule,
            Revision = outcome.Revision,
            Cost = decision?.Cost,
            Reserved = outcome.ReservationId is null ? null : decision?.Cost,
            Message = outcome.Message,
            Redactions = decision?.Redactions.Sum(r => r.Count) ?? 0,
            RedactionKinds = decision is { Redactions.Count: > 0 } ? [.. decision.Redactions.Select(r => r.Detector).Distinct(StringComparer.Ordinal)] : [],
            Shadow = decision?.Shadow ?? [],
            Args = outcome.Agent is { } agent ? AuditArgs.ForPolicy(bundles.Get(agent.Tenant)?.Policies, outcome.Policy, args, decision) : null,
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
