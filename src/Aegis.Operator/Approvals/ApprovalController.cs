using System.Net;
using System.Text.Json.Nodes;
using Aegis.Operator.Caching;
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
/// Level-based: each reconcile reads the cached object, never the event. It runs only while this replica leads (a
/// leader runnable): on start it looks at every request, then at each change, and every <see cref="ApprovalSettings.Resync"/>.
/// </summary>
public sealed partial class ApprovalController : IReconciler<string>, IRunnable
{
    // Messages this replica posted whose ts the cache has not shown back yet, by object uid.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SlackMessage> _posted = new(StringComparer.Ordinal);
    private readonly IKubernetes _client;
    private readonly ApprovalSettings _settings;
    private readonly SlackClient? _slack;
    private readonly Approvers _approvers;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResourceInformer<ApprovalRequest> _requests;

    public ApprovalController(IKubernetes client, ApprovalSettings settings, SlackClient? slack, InformerCache cache, TimeProvider time, ILoggerFactory loggers, int workers = 2)
    {
        _client = client;
        _settings = settings;
        _slack = slack;
        _approvers = new Approvers(settings.Groups);
        _time = time;
        _logger = loggers.CreateLogger<ApprovalController>();
        _requests = cache.For<ApprovalRequest>();
        Controller = new Controller<string>("approvals", this, cache, time, loggers.CreateLogger<Controller<string>>())
        {
            Workers = workers,
            InitialKeys = Keys,
        };
        _requests.Changed += change =>
        {
            if ((change.New ?? change.Old) is { } request)
            {
                Controller.Enqueue(KeyOf(request));
            }
        };
    }

    /// <summary>The loop that runs <see cref="ReconcileAsync"/>.</summary>
    public Controller<string> Controller { get; }

    /// <summary>Runs the controller and a periodic resync (expiry, escalation, retention) until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var controller = Controller.RunAsync(cancellationToken);
        try
        {
            using var timer = new PeriodicTimer(_settings.Resync, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var key in Keys())
                {
                    Controller.Enqueue(key);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }

        await controller.ConfigureAwait(false);
    }

    private IEnumerable<string> Keys() => _requests.List().Select(KeyOf);

    private static string KeyOf(ApprovalRequest request) => $"{request.Metadata.Namespace}/{request.Metadata.Name}";

    /// <summary>One step for <paramref name="key"/> (namespace/name); asks to look again when a deadline is pending.</summary>
    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken = default) =>
        await StepAsync(key, cancellationToken).ConfigureAwait(false) is { } after ? ReconcileResult.After(after) : ReconcileResult.Done;

    private async Task<TimeSpan?> StepAsync(string key, CancellationToken cancellationToken)
    {
        if (key.Split('/') is not [var ns, var name] || _requests.Get(ns, name) is not { } request)
        {
            return null;
        }

        if (ApprovalObjects.Validate(request, _requests.ReadError(ns, name)) is { } error)
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "ApprovalRequest {Key} does not load: {Reason}")]
    private static partial void LogInvalid(ILogger logger, string key, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "deleted resolved ApprovalRequest {Key} ({Phase}) after the retention period")]
    private static partial void LogDeleted(ILogger logger, string key, ApprovalPhase phase);

    [LoggerMessage(Level = LogLevel.Information, Message = "escalated ApprovalRequest {Namespace}/{Name}")]
    private static partial void LogEscalated(ILogger logger, string @namespace, string name);
}
