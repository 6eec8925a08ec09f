using System.Net;
using System.Text.Json.Nodes;
using Aegis.Operator.Controllers;
using Aegis.Operator.Slack;
using Aegis.Policy.Resources;
using Aegis.Policy.Values;
using k8s;
using k8s.Autorest;

namespace Aegis.Operator.Approvals;

/// <summary>
/// Drives each ApprovalRequest through its lifecycle, whoever decided it (Slack, <c>aegis approve</c>, kubectl): posts
/// the Slack message of a new request, escalates, expires, updates the message to the outcome, settles
/// <c>decidedAt</c> so override tokens are deterministic, and deletes resolved requests after the retention period.
/// Level-based: each reconcile reads the cached object, never the event. Only the leader acts.
/// </summary>
public sealed partial class ApprovalController : IDisposable
{
    // Messages this replica posted whose ts the cache has not shown back yet, by object uid.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SlackMessage> _posted = new(StringComparer.Ordinal);
    private readonly IKubernetes _client;
    private readonly ApprovalSettings _settings;
    private readonly SlackClient? _slack;
    private readonly Approvers _approvers;
    private readonly TimeProvider _time;
    private readonly Func<bool> _isLeader;
    private readonly ILogger _logger;
    private readonly WorkQueue<string> _queue;

    public ApprovalController(IKubernetes client, ApprovalSettings settings, SlackClient? slack, TimeProvider time, ILoggerFactory loggers, Func<bool> isLeader)
    {
        _client = client;
        _settings = settings;
        _slack = slack;
        _approvers = new Approvers(settings.Groups);
        _time = time;
        _isLeader = isLeader;
        _logger = loggers.CreateLogger<ApprovalController>();
        _queue = new WorkQueue<string>(time);
        Informer = new CustomResourceInformer(client, AegisObject.Group, AegisObject.Version, ApprovalObjects.Plural, loggers.CreateLogger<CustomResourceInformer>());
        Informer.Changed += change =>
        {
            if ((change.New ?? change.Old)?["metadata"] is { } meta)
            {
                _queue.Add($"{meta["namespace"]}/{meta["name"]}");
            }
        };
    }

    /// <summary>The cached ApprovalRequests (the desk reads them to answer agents).</summary>
    public CustomResourceInformer Informer { get; }

    /// <summary>Runs the informer, a periodic resync (expiry, escalation, retention) and <paramref name="workers"/> workers.</summary>
    public async Task RunAsync(int workers, CancellationToken cancellationToken)
    {
        var informer = Informer.RunAsync(cancellationToken);
        var resync = ResyncAsync(cancellationToken);
        var loops = Enumerable.Range(0, workers).Select(_ => WorkAsync(cancellationToken)).ToList();
        try
        {
            await Task.WhenAll([informer, resync, .. loops]).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_settings.Resync, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var meta in Informer.Snapshot().Select(o => o["metadata"]))
            {
                _queue.Add($"{meta?["namespace"]}/{meta?["name"]}");
            }
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (await _queue.TryGetAsync(cancellationToken).ConfigureAwait(false) is (true, var key))
        {
            try
            {
                if (await ReconcileAsync(key, cancellationToken).ConfigureAwait(false) is { } after)
                {
                    _queue.AddAfter(key, after);
                }

                _queue.Forget(key);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(_logger, key, e.Message);
                _queue.AddRateLimited(key);
            }
            finally
            {
                _queue.Done(key);
            }
        }
    }

    /// <summary>One step for <paramref name="key"/> (namespace/name); returns when to look again, if a deadline is pending.</summary>
    public async Task<TimeSpan?> ReconcileAsync(string key, CancellationToken cancellationToken = default)
    {
        if (!_isLeader() || key.Split('/') is not [var ns, var name] || Informer.Get(ns, name) is not { } json)
        {
            return null;
        }

        if (ApprovalObjects.Load(json, out var error) is not { } request)
        {
            // Not ours to repair: the CRD schema lets through little that fails here. Say so and leave it.
            LogInvalid(_logger, key, error);
            return null;
        }

        var now = _time.GetUtcNow();
        var status = request.Status ?? new ApprovalRequestStatus();
        var version = request.Metadata.ResourceVersion;
        if (status.Phase == ApprovalPhase.Pending)
        {
            return await PendingAsync(request, status, now, cancellationToken).ConfigureAwait(false);
        }

        var decidedAt = ApprovalObjects.Time(status.DecidedAt);
        if (decidedAt is null || decidedAt > now)
        {
            // A hand-written decision (kubectl) without a usable decidedAt: settle it once, here, so the override
            // token derived from it is the same on every replica and never starts in the future.
            await ApprovalObjects.PatchStatusAsync(_client, ns, name, new JsonObject { ["decidedAt"] = ApprovalObjects.Format(now) }, version, cancellationToken).ConfigureAwait(false);
            return null;
        }

        if (_slack is not null && status.SlackChannel is { } channel && status.SlackMessageTs is { } ts && status.SlackPhase != status.Phase.ToString())
        {
            await _slack.UpdateAsync(channel, ts, ApprovalMessages.Text(request), ApprovalMessages.Blocks(request, Everyone(request)), cancellationToken).ConfigureAwait(false);
            await ApprovalObjects.PatchStatusAsync(_client, ns, name, new JsonObject { ["slackPhase"] = status.Phase.ToString() }, version, cancellationToken).ConfigureAwait(false);
            return null;
        }

        var remove = decidedAt.Value + _settings.Retention;
        if (now < remove)
        {
            return remove - now;
        }

        try
        {
            await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(AegisObject.Group, AegisObject.Version, ns, ApprovalObjects.Plural, name, cancellationToken: cancellationToken).ConfigureAwait(false);
            LogDeleted(_logger, key, status.Phase);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Already gone.
        }

        return null;
    }

    private async Task<TimeSpan?> PendingAsync(ApprovalRequest request, ApprovalRequestStatus status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (ns, name, version) = (request.Metadata.Namespace!, request.Metadata.Name, request.Metadata.ResourceVersion);
        var expires = ApprovalObjects.Time(request.Spec.ExpiresAt) ?? now;
        if (now >= expires)
        {
            await ApprovalObjects.PatchStatusAsync(_client, ns, name,
                ApprovalObjects.Decision(ApprovalPhase.Expired, "aegis-operator", now, "nobody decided before expiresAt"), version, cancellationToken).ConfigureAwait(false);
            return null;
        }

        var uid = request.Metadata.Uid ?? $"{ns}/{name}";
        if (status.SlackMessageTs is not null)
        {
            _posted.TryRemove(uid, out _);
        }
        else if (_slack is not null && request.Spec.Channel is { Length: > 0 } channel)
        {
            // The cache can lag our own status write: a pass that still sees no ts must not post a second message.
            if (!_posted.TryGetValue(uid, out var posted))
            {
                try
                {
                    posted = await _slack.PostMessageAsync(channel, ApprovalMessages.Text(request), ApprovalMessages.Blocks(request, Everyone(request)), cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (SlackException e) when (e.Error is "channel_not_found" or "not_in_channel" or "invalid_auth" or "is_archived")
                {
                    // Retrying cannot help until someone fixes the channel or token; say so on the object and wait for a resync.
                    await ApprovalObjects.PatchStatusAsync(_client, ns, name, new JsonObject { ["conditions"] = Notified("False", e.Error, e.Message, now) }, null, cancellationToken).ConfigureAwait(false);
                    return _settings.Resync * 6;
                }

                _posted[uid] = posted;
            }

            // Unconditional, and without phase: a decision that landed while posting must stay, and the message it
            // needs updating is found through these fields on the next pass.
            await ApprovalObjects.PatchStatusAsync(_client, ns, name, new JsonObject
            {
                ["slackChannel"] = posted.Channel,
                ["slackMessageTs"] = posted.Ts,
                ["slackPhase"] = nameof(ApprovalPhase.Pending),
                ["conditions"] = Notified("True", "Posted", $"posted to Slack channel {posted.Channel}", now),
            }, null, cancellationToken).ConfigureAwait(false);
            return null;
        }

        var next = expires - now;
        if (request.Spec.Escalation is { } escalation && status.EscalatedAt is null && GoDuration.TryParse(escalation.After, out var after, out _))
        {
            var at = (ApprovalObjects.Time(request.Metadata.CreationTimestamp) ?? now) + after;
            if (now >= at)
            {
                if (_slack is not null && status.SlackChannel is { } channel2 && status.SlackMessageTs is { } ts)
                {
                    await _slack.PostMessageAsync(channel2, "Escalated: " + ApprovalMessages.Text(request), ApprovalMessages.Escalation(_approvers.Expand(escalation.Approvers)), ts, cancellationToken).ConfigureAwait(false);
                }

                await ApprovalObjects.PatchStatusAsync(_client, ns, name, new JsonObject { ["escalatedAt"] = ApprovalObjects.Format(now) }, version, cancellationToken).ConfigureAwait(false);
                LogEscalated(_logger, ns, name);
                return null;
            }

            next = at - now < next ? at - now : next;
        }

        return next;
    }

    /// <summary>Everyone who may decide <paramref name="request"/> now: its approvers, plus the escalation list once escalated.</summary>
    public static IEnumerable<string> Deciders(ApprovalRequest request) =>
        request.Status?.EscalatedAt is not null && request.Spec.Escalation is { } escalation
            ? request.Spec.Approvers.Concat(escalation.Approvers)
            : request.Spec.Approvers;

    private IEnumerable<string> Everyone(ApprovalRequest request) => _approvers.Expand(Deciders(request));

    private static JsonArray Notified(string state, string reason, string message, DateTimeOffset now) =>
    [
        new JsonObject
        {
            ["type"] = "Notified", ["status"] = state, ["reason"] = reason, ["message"] = message, ["lastTransitionTime"] = ApprovalObjects.Format(now),
        },
    ];

    public void Dispose() => _queue.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "reconciling ApprovalRequest {Key} failed, retrying: {Reason}")]
    private static partial void LogFailed(ILogger logger, string key, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ApprovalRequest {Key} does not load: {Reason}")]
    private static partial void LogInvalid(ILogger logger, string key, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "deleted resolved ApprovalRequest {Key} ({Phase}) after the retention period")]
    private static partial void LogDeleted(ILogger logger, string key, ApprovalPhase phase);

    [LoggerMessage(Level = LogLevel.Information, Message = "escalated ApprovalRequest {Namespace}/{Name}")]
    private static partial void LogEscalated(ILogger logger, string @namespace, string name);
}
