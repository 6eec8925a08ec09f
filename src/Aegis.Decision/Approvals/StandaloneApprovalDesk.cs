using System.Text.Json;
using Aegis.Contracts.State;
using Aegis.Policy.Redaction;
using Aegis.Policy.Values;

namespace Aegis.Decision.Approvals;

/// <summary>Where an approval stands.</summary>
public enum ApprovalState
{
    Pending,
    Approved,
    Denied,
    Expired,
}

/// <summary>One approval the standalone desk holds: the call, who may decide it, and how it was decided.</summary>
public sealed record DeskApproval
{
    public required string Name { get; init; }
    public required ApprovalKey Key { get; init; }

    /// <summary>The arguments with every built-in detector applied, cut to <see cref="StandaloneApprovalDesk.PreviewLength"/>.</summary>
    public required string ArgsPreview { get; init; }

    public required IReadOnlyList<string> Approvers { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
    public required int MaxBatch { get; init; }
    public ApprovalState State { get; init; } = ApprovalState.Pending;
    public string? DecidedBy { get; init; }
    public DateTimeOffset? DecidedAt { get; init; }
    public string? Reason { get; init; }

    /// <summary>For an approval: how many calls it granted, and until when.</summary>
    public int Granted { get; init; }

    public DateTimeOffset? GrantExpiresAt { get; init; }
}

/// <summary>The outcome of deciding an approval: the approval as it now is, or why it could not be decided.</summary>
public sealed record DeskDecision(DeskApproval? Approval, string? Error, int Status);

/// <summary>
/// The approvals desk of standalone mode (<c>aegis serve --manifests</c>), in memory, with the semantics of the
/// cluster's: identical pending calls coalesce into one request, an agent has at most <see cref="MaxPendingPerAgent"/>
/// pending, approvers come from the rule in the bundle, and approving writes a grant the agent's retry consumes
/// (once, or a batch of up to the rule's <c>maxBatch</c> within a window). Resolved approvals are kept for
/// <see cref="Retention"/>, so nothing piles up.
/// </summary>
public sealed class StandaloneApprovalDesk(IApprovalGrants grants, TimeProvider time) : IApprovalFiler
{
    /// <summary>Longest redacted argument preview stored and shown.</summary>
    public const int PreviewLength = 1_000;

    /// <summary>Pending approvals one agent may have; past it, calls needing approval are refused (approval_backlog_full).</summary>
    public const int MaxPendingPerAgent = 20;

    /// <summary>A refusal of the desk: the agent already has its maximum of pending approvals.</summary>
    public const string BacklogFull = "approval_backlog_full";

    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    private static readonly Redactor Preview = new(Detectors.Names.Select(n => Detectors.Create(n, null)));

    private readonly Dictionary<string, DeskApproval> _approvals = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public Task<ApprovalFiling> FileAsync(ApprovalCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var now = time.GetUtcNow();
        lock (_lock)
        {
            Sweep(now);
            var stem = "ar-" + call.Key.Hash[..16];
            var sameCall = _approvals.Values.Where(a => a.Key == call.Key).ToList();
            if (sameCall.FirstOrDefault(a => a.State == ApprovalState.Pending) is { } pending)
            {
                return Task.FromResult(new ApprovalFiling(pending.Name, null));
            }

            if (_approvals.Values.Count(a => a.State == ApprovalState.Pending && a.Key.Tenant == call.Key.Tenant && a.Key.AgentId == call.Key.AgentId) >= MaxPendingPerAgent)
            {
                return Task.FromResult(new ApprovalFiling(null, $"agent \"{call.Key.AgentId}\" already has {MaxPendingPerAgent} approvals pending; decide or let them expire first") { Refusal = BacklogFull });
            }

            var ttl = call.Approval.Ttl is { } text && GoDuration.TryParse(text, out var t, out _) ? t : TimeSpan.FromMinutes(15);
            var approval = new DeskApproval
            {
                Name = $"{stem}-{sameCall.Count + 1}",
                Key = call.Key,
                ArgsPreview = PreviewOf(call.Args),
                Approvers = call.Approval.Approvers,
                CreatedAt = now,
                ExpiresAt = now + ttl,
                MaxBatch = call.Approval.MaxBatch ?? 1,
            };
            _approvals[approval.Name] = approval;
            return Task.FromResult(new ApprovalFiling(approval.Name, null));
        }
    }

    /// <summary>Every approval held, newest first, with expired ones marked.</summary>
    public IReadOnlyList<DeskApproval> List()
    {
        lock (_lock)
        {
            Sweep(time.GetUtcNow());
            return [.. _approvals.Values.OrderByDescending(a => a.CreatedAt).ThenBy(a => a.Name, StringComparer.Ordinal)];
        }
    }

    public DeskApproval? Get(string name)
    {
        lock (_lock)
        {
            Sweep(time.GetUtcNow());
            return _approvals.GetValueOrDefault(name);
        }
    }

    /// <summary>
    /// Approves <paramref name="name"/> for <paramref name="count"/> calls (at most the rule's maxBatch) within
    /// <paramref name="within"/> (default and at most the approval's own time to live), writing the grant.
    /// </summary>
    public async Task<DeskDecision> ApproveAsync(string name, string decidedBy, string? reason, int count = 1, TimeSpan? within = null, CancellationToken cancellationToken = default)
    {
        DeskApproval approved;
        lock (_lock)
        {
            var now = time.GetUtcNow();
            Sweep(now);
            if (Decidable(name) is { } refused)
            {
                return refused;
            }

            var approval = _approvals[name];
            if (count < 1 || count > approval.MaxBatch)
            {
                return new DeskDecision(null, $"count must be 1 to {approval.MaxBatch} (the rule's approval.maxBatch), got {count}", 400);
            }

            var window = within ?? (approval.ExpiresAt - approval.CreatedAt);
            if (window <= TimeSpan.Zero || window > TimeSpan.FromDays(1))
            {
                return new DeskDecision(null, "within must be more than zero and at most 24h", 400);
            }

            approved = approval with { State = ApprovalState.Approved, DecidedBy = decidedBy, DecidedAt = now, Reason = reason, Granted = count, GrantExpiresAt = now + window };
            _approvals[name] = approved;
        }

        await grants.GrantAsync(approved.Key, approved.Granted, approved.GrantExpiresAt!.Value, cancellationToken).ConfigureAwait(false);
        return new DeskDecision(approved, null, 200);
    }

    public DeskDecision Deny(string name, string decidedBy, string? reason)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            Sweep(now);
            if (Decidable(name) is { } refused)
            {
                return refused;
            }

            var denied = _approvals[name] with { State = ApprovalState.Denied, DecidedBy = decidedBy, DecidedAt = now, Reason = reason };
            _approvals[name] = denied;
            return new DeskDecision(denied, null, 200);
        }
    }

    /// <summary>Uses left of an approved request's grant.</summary>
    public ValueTask<int> RemainingAsync(DeskApproval approval, CancellationToken cancellationToken = default) =>
        approval.State == ApprovalState.Approved ? grants.RemainingAsync(approval.Key, time.GetUtcNow(), cancellationToken) : ValueTask.FromResult(0);

    private DeskDecision? Decidable(string name) =>
        !_approvals.TryGetValue(name, out var approval) ? new DeskDecision(null, $"no approval request \"{name}\"", 404)
        : approval.State != ApprovalState.Pending ? new DeskDecision(approval, $"approval request \"{name}\" is {approval.State.ToString().ToLowerInvariant()}, not pending", 409)
        : null;

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (name, approval) in _approvals.ToList())
        {
            if (approval.State == ApprovalState.Pending && approval.ExpiresAt <= now)
            {
                _approvals[name] = approval with { State = ApprovalState.Expired, DecidedAt = approval.ExpiresAt };
            }
            else if (approval.State != ApprovalState.Pending && (approval.DecidedAt ?? approval.CreatedAt) + Retention <= now)
            {
                _approvals.Remove(name);
            }
        }
    }

    private static string PreviewOf(JsonElement args)
    {
        var redacted = Redactor.RedactAll(args, [Preview], "args", []);
        var text = redacted?.ToJsonString() ?? "{}";
        return text.Length <= PreviewLength ? text : text[..PreviewLength] + "…";
    }
}
