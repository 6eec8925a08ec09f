using System.Globalization;
using System.Text.Json.Nodes;
using Aegis.Operator.Publishing;
using Aegis.Policy.Resources;
using k8s;
using k8s.Models;

namespace Aegis.Operator.Controllers;

/// <summary>
/// Watches AgentPolicy, AgentBudget and TenantRegion, queues the tenant of every change (old and new, when an
/// object moves between tenants), and reconciles tenants with <see cref="TenantReconciler"/> on a few workers
/// that start after every cache has synced. Every replica compiles into its own catalog (signing is
/// deterministic, so all replicas serve identical bundles); only the leader writes status, through the status
/// subresource and only when it differs, and publishes to external stores. Failures are retried with backoff.
/// </summary>
public sealed partial class TenantController : IDisposable
{
    private static readonly (string Plural, string Kind)[] Kinds =
    [
        ("agentpolicies", AgentPolicy.KindName), ("agentbudgets", AgentBudget.KindName), ("tenantregions", TenantRegion.KindName), ("toolservers", ToolServer.KindName),
    ];

    private readonly IKubernetes _client;
    private readonly TenantReconciler _reconciler;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CustomResourceInformer[] _informers;
    private readonly WorkQueue<string> _queue;

    private readonly Func<bool> _isLeader;
    private readonly IBundlePublisher? _external;
    private readonly BundleCatalog? _catalog;

    public TenantController(IKubernetes client, TenantReconciler reconciler, TimeProvider time, ILoggerFactory loggers, Func<bool>? isLeader = null, BundleCatalog? catalog = null, IBundlePublisher? external = null)
    {
        _client = client;
        _reconciler = reconciler;
        _isLeader = isLeader ?? (() => true);
        _catalog = catalog;
        _external = external;
        _time = time;
        _logger = loggers.CreateLogger<TenantController>();
        _queue = new WorkQueue<string>(time);
        _informers = [.. Kinds.Select(k => new CustomResourceInformer(client, AegisObject.Group, AegisObject.Version, k.Plural, loggers.CreateLogger<CustomResourceInformer>()))];
        foreach (var informer in _informers)
        {
            informer.Changed += OnChanged;
        }
    }

    /// <summary>Queues every known tenant again (a new leader takes over status and external publishing).</summary>
    public void RequeueAll()
    {
        foreach (var tenant in _informers.SelectMany(i => i.Snapshot()).Select(o => TenantOf(o)).Distinct())
        {
            _queue.Add(tenant);
        }
    }

    /// <summary>The cached objects of one kind (by plural), as the API server returned them.</summary>
    public IReadOnlyList<JsonObject> Snapshot(string plural) => _informers.Single(i => i.Plural == plural).Snapshot();

    /// <summary>True once every informer has listed (readiness).</summary>
    public bool HasSynced => _informers.All(i => i.HasSynced);

    /// <summary>Successful reconciles, for tests and metrics.</summary>
    public int Reconciles { get; private set; }

    /// <summary>Runs the informers and <paramref name="workers"/> workers until cancelled.</summary>
    public async Task RunAsync(int workers, CancellationToken cancellationToken)
    {
        var informers = _informers.Select(i => i.RunAsync(cancellationToken)).ToList();
        while (!_informers.All(i => i.HasSynced))
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        using var registration = cancellationToken.Register(_queue.ShutDown);
        var running = Enumerable.Range(0, workers).Select(_ => WorkAsync(cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(running.Concat(informers)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void OnChanged(ResourceChange change)
    {
        // Status-only updates (ours, or the budget writer's) cannot change a bundle: the generation moves with spec only.
        if (change is { Old: { } old, New: { } current }
            && old["metadata"]?["generation"]?.ToString() == current["metadata"]?["generation"]?.ToString()
            && old["metadata"]?["deletionTimestamp"] is null && current["metadata"]?["deletionTimestamp"] is null)
        {
            return;
        }

        foreach (var tenant in new[] { TenantOf(change.Old), TenantOf(change.New) }.Distinct())
        {
            _queue.Add(tenant);
        }
    }

    private static string TenantOf(JsonObject? obj) => obj?["spec"]?["tenant"]?.ToString() ?? "";

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var (ok, tenant) = await _queue.TryGetAsync(cancellationToken).ConfigureAwait(false);
            if (!ok)
            {
                return;
            }

            try
            {
                await ReconcileAsync(tenant, cancellationToken).ConfigureAwait(false);
                _queue.Forget(tenant);
                Reconciles++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var delay = _queue.AddRateLimited(tenant);
                LogRetry(_logger, tenant, e.Message, delay.TotalMilliseconds);
            }
            finally
            {
                _queue.Done(tenant);
            }
        }
    }

    private async Task ReconcileAsync(string tenant, CancellationToken cancellationToken)
    {
        // Level-based: read the cache as it is now, whatever event woke us.
        var objects = new List<(string Plural, CachedObject Cached, JsonObject Json)>();
        foreach (var (informer, kind) in _informers.Zip(Kinds.Select(k => k.Kind)))
        {
            foreach (var json in informer.Snapshot().Where(o => TenantOf(o) == tenant))
            {
                var meta = json["metadata"]!;
                objects.Add((informer.Plural, new CachedObject(kind, meta["namespace"]!.ToString(), meta["name"]!.ToString(),
                    long.Parse(meta["generation"]?.ToString() ?? "0", CultureInfo.InvariantCulture), json.ToJsonString()) { Uid = meta["uid"]?.ToString() }, json));
            }
        }

        var result = await _reconciler.ReconcileAsync(tenant, [.. objects.Select(o => o.Cached)], cancellationToken).ConfigureAwait(false);
        if (result.Published)
        {
            LogPublished(_logger, tenant, result.Revision);
        }

        if (!_isLeader())
        {
            return;
        }

        if (_external is not null && _catalog is not null && _catalog.TryGet(tenant, out var revision, out var bundle)
            && await _external.CurrentRevisionAsync(tenant, cancellationToken).ConfigureAwait(false) != revision)
        {
            await _external.PublishAsync(tenant, revision, bundle, cancellationToken).ConfigureAwait(false);
        }

        // A new revision touches every object's status; the writes go out a few at a time, not one by one.
        var byRef = objects.ToDictionary(o => o.Cached.Ref, o => (o.Plural, o.Json), StringComparer.Ordinal);
        await Parallel.ForEachAsync(result.Statuses, new ParallelOptions { MaxDegreeOfParallelism = StatusWriters, CancellationToken = cancellationToken }, async (update, ct) =>
        {
            var (plural, json) = byRef[update.Source.Ref];
            if (DesiredStatus(json, update) is not { } status)
            {
                return;
            }

            await _client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
                new V1Patch(new JsonObject { ["status"] = status }.ToJsonString(), V1Patch.PatchType.MergePatch),
                AegisObject.Group, AegisObject.Version, update.Source.Namespace, plural, update.Source.Name, cancellationToken: ct).ConfigureAwait(false);

            // An event when the object itself changed or its conditions turned, never for a revision a neighbour's
            // edit caused: one edit in a tenant of hundreds records one event, not hundreds.
            if (IsNewsworthy(json, update))
            {
                await RecordEventAsync(update, json, ct).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
    }

    /// <summary>How many status writes one reconcile makes at once.</summary>
    private const int StatusWriters = 8;

    private static bool IsNewsworthy(JsonObject current, ObjectStatusUpdate update)
    {
        var status = current["status"];
        if (status?["observedGeneration"]?.ToString() != update.Source.Generation.ToString(CultureInfo.InvariantCulture))
        {
            return true;
        }

        var conditions = status["conditions"] as JsonArray;
        return new[] { update.Accepted, update.Ready }.Any(wanted =>
            conditions?.FirstOrDefault(c => c?["type"]?.ToString() == wanted.Type) is not { } old
            || old["status"]?.ToString() != (wanted.Status ? "True" : "False")
            || old["reason"]?.ToString() != wanted.Reason);
    }

    private async Task RecordEventAsync(ObjectStatusUpdate update, JsonObject json, CancellationToken cancellationToken)
    {
        var (type, reason, message) = update.Accepted.Status
            ? ("Normal", "BundlePublished", update.Ready.Message)
            : ("Warning", update.Source.Kind == TenantRegion.KindName ? "TenantDenied" : "BundleRefused", $"{update.Accepted.Message}; {update.Ready.Message}");
        var now = _time.GetUtcNow().UtcDateTime;
        var evt = new Corev1Event
        {
            // Event names are DNS subdomains (at most 253 characters): the object's name, then a unique suffix.
            Metadata = new V1ObjectMeta { Name = $"{(update.Source.Name.Length > 200 ? update.Source.Name[..200] : update.Source.Name)}.{Guid.NewGuid():N}", NamespaceProperty = update.Source.Namespace },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = AegisObject.ApiVersionValue,
                Kind = update.Source.Kind,
                Name = update.Source.Name,
                NamespaceProperty = update.Source.Namespace,
                Uid = json["metadata"]?["uid"]?.ToString(),
            },
            Type = type,
            Reason = reason,
            Message = message.Length > 1024 ? message[..1024] : message,
            Source = new V1EventSource { Component = "aegis-operator" },
            FirstTimestamp = now,
            LastTimestamp = now,
            Count = 1,
        };
        try
        {
            await _client.CoreV1.CreateNamespacedEventAsync(evt, update.Source.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (k8s.Autorest.HttpOperationException e)
        {
            // Events are best effort in Kubernetes; the status already says what happened.
            LogEventFailed(_logger, update.Source.Ref, e.Message);
        }
    }

    /// <summary>The status to write, or null when the object already has it (so our own writes settle).</summary>
    private JsonObject? DesiredStatus(JsonObject current, ObjectStatusUpdate update)
    {
        var existing = current["status"]?["conditions"] as JsonArray;
        var conditions = new JsonArray();
        var changed = current["status"]?["bundleRevision"]?.ToString() != update.BundleRevision
            || current["status"]?["observedGeneration"]?.ToString() != update.Source.Generation.ToString(CultureInfo.InvariantCulture);
        foreach (var condition in new[] { update.Accepted, update.Ready })
        {
            var old = existing?.FirstOrDefault(c => c?["type"]?.ToString() == condition.Type);
            var status = condition.Status ? "True" : "False";
            var same = old?["status"]?.ToString() == status;
            changed |= !same || old?["reason"]?.ToString() != condition.Reason || old?["message"]?.ToString() != condition.Message
                || old?["observedGeneration"]?.ToString() != update.Source.Generation.ToString(CultureInfo.InvariantCulture);
            conditions.Add(new JsonObject
            {
                ["type"] = condition.Type,
                ["status"] = status,
                ["reason"] = condition.Reason,
                ["message"] = condition.Message,
                ["observedGeneration"] = update.Source.Generation,
                ["lastTransitionTime"] = same && old?["lastTransitionTime"] is { } t ? t.ToString() : _time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            });
        }

        return changed
            ? new JsonObject { ["observedGeneration"] = update.Source.Generation, ["conditions"] = conditions, ["bundleRevision"] = update.BundleRevision }
            : null;
    }

    public void Dispose() => _queue.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "recording an event for {Object} failed: {Reason}")]
    private static partial void LogEventFailed(ILogger logger, string @object, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "published bundle {Revision} for tenant {Tenant}")]
    private static partial void LogPublished(ILogger logger, string tenant, string revision);

    [LoggerMessage(Level = LogLevel.Warning, Message = "reconciling tenant {Tenant} failed: {Reason}; retrying in {DelayMs} ms")]
    private static partial void LogRetry(ILogger logger, string tenant, string reason, double delayMs);
}
