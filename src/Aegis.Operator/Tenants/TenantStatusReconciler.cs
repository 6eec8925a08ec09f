using System.Globalization;
using System.Text.Json.Nodes;
using Aegis.Operator.Controllers;
using Aegis.Operator.Publishing;
using Aegis.Policy.Resources;
using k8s;
using k8s.Models;

namespace Aegis.Operator.Tenants;

/// <summary>
/// Reconcile(tenant), on the leader only: give a new revision its sequence; once this replica serves it, copy it to
/// the external stores (ConfigMaps, S3, GCS) and write every object's status (only where it differs, through the
/// status subresource) with an Event when the object itself changed or its conditions turned.
/// </summary>
public sealed partial class TenantStatusReconciler(IKubernetes client, TenantSources sources, BundleReconciler bundles, BundleSequences sequences,
    BundleCatalog catalog, IBundlePublisher? external, TimeProvider time, ILogger<TenantStatusReconciler> logger) : IReconciler<string>
{
    /// <summary>How many status writes one reconcile makes at once.</summary>
    private const int StatusWriters = 8;

    public async Task<ReconcileResult> ReconcileAsync(string tenant, CancellationToken cancellationToken)
    {
        if (bundles.BuildOf(tenant) is not { } build)
        {
            // Nothing compiled yet: the bundle reconciler's next build wakes us.
            return ReconcileResult.Done;
        }

        if (BundleReconciler.IsPublishable(tenant))
        {
            if (sequences.Get(tenant) is not { } sequence || sequence.Revision != build.Revision)
            {
                var assigned = await sequences.AssignAsync(tenant, build.Revision, bundles.ServedSequence(tenant), cancellationToken).ConfigureAwait(false);
                LogSequenced(logger, tenant, build.Revision, assigned.Sequence);
                return ReconcileResult.Done;
            }

            if (!catalog.TryGet(tenant, out var served, out var archive) || served != build.Revision)
            {
                // Signed on this replica by the bundle reconciler, which wakes us when it is done.
                return ReconcileResult.Done;
            }

            if (external is not null && await external.CurrentRevisionAsync(tenant, cancellationToken).ConfigureAwait(false) != served)
            {
                await external.PublishAsync(tenant, served, archive, cancellationToken).ConfigureAwait(false);
            }
        }

        var current = sources.Read(tenant).ToDictionary(s => s.Ref, StringComparer.Ordinal);
        await Parallel.ForEachAsync(build.Statuses, new ParallelOptions { MaxDegreeOfParallelism = StatusWriters, CancellationToken = cancellationToken }, async (update, ct) =>
        {
            // The object as the cache holds it now: gone, or a newer generation the next build covers.
            if (!current.TryGetValue(update.Source.Ref, out var now) || now.Resource.Metadata.Generation != update.Source.Resource.Metadata.Generation
                || DesiredStatus(StatusOf(now.Resource), update) is not { } status)
            {
                return;
            }

            var meta = update.Source.Resource.Metadata;
            await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
                new V1Patch(new JsonObject { ["status"] = status }.ToJsonString(), V1Patch.PatchType.MergePatch),
                AegisObject.Group, AegisObject.Version, meta.Namespace ?? "default", update.Source.Plural, meta.Name, cancellationToken: ct).ConfigureAwait(false);

            // An event when the object itself changed or its conditions turned, never for a revision a neighbour's
            // edit caused: one edit in a tenant of hundreds records one event, not hundreds.
            if (IsNewsworthy(StatusOf(now.Resource), update))
            {
                await RecordEventAsync(update, ct).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        return ReconcileResult.Done;
    }

    private static CompiledObjectStatus? StatusOf(AegisObject obj) => obj switch
    {
        AgentPolicy p => p.Status,
        AgentBudget b => b.Status,
        TenantRegion r => r.Status,
        ToolServer t => t.Status,
        _ => null,
    };

    private static bool IsNewsworthy(CompiledObjectStatus? status, ObjectStatusUpdate update)
    {
        if (status is null || status.ObservedGeneration != update.Source.Resource.Metadata.Generation)
        {
            return true;
        }

        return new[] { update.Accepted, update.Ready }.Any(wanted =>
            status.Conditions?.FirstOrDefault(c => c.Type == wanted.Type) is not { } old
            || old.Status != (wanted.Status ? "True" : "False")
            || old.Reason != wanted.Reason);
    }

    private async Task RecordEventAsync(ObjectStatusUpdate update, CancellationToken cancellationToken)
    {
        var (type, reason, message) = update.Accepted.Status
            ? ("Normal", "BundlePublished", update.Ready.Message)
            : ("Warning",
                update.Accepted.Reason is TenantBinding.NotBound or TenantBinding.Mismatch ? update.Accepted.Reason
                : update.Source.Resource is TenantRegion ? "TenantDenied" : "BundleRefused",
                $"{update.Accepted.Message}; {update.Ready.Message}");
        var meta = update.Source.Resource.Metadata;
        var ns = meta.Namespace ?? "default";
        var now = time.GetUtcNow().UtcDateTime;
        var evt = new Corev1Event
        {
            // Event names are DNS subdomains (at most 253 characters): the object's name, then a unique suffix.
            Metadata = new V1ObjectMeta { Name = $"{(meta.Name.Length > 200 ? meta.Name[..200] : meta.Name)}.{Guid.NewGuid():N}", NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = AegisObject.ApiVersionValue,
                Kind = update.Source.Resource.Kind,
                Name = meta.Name,
                NamespaceProperty = ns,
                Uid = meta.Uid,
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
            await client.CoreV1.CreateNamespacedEventAsync(evt, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (k8s.Autorest.HttpOperationException e)
        {
            // Events are best effort in Kubernetes; the status already says what happened.
            LogEventFailed(logger, update.Source.Ref, e.Message);
        }
    }

    /// <summary>The status to write, or null when the object already has it (so our own writes settle).</summary>
    private JsonObject? DesiredStatus(CompiledObjectStatus? current, ObjectStatusUpdate update)
    {
        var generation = update.Source.Resource.Metadata.Generation;
        var conditions = new JsonArray();
        var changed = current?.BundleRevision != update.BundleRevision || current?.ObservedGeneration != generation;
        foreach (var condition in new[] { update.Accepted, update.Ready })
        {
            var old = current?.Conditions?.FirstOrDefault(c => c.Type == condition.Type);
            var status = condition.Status ? "True" : "False";
            var same = old?.Status == status;
            changed |= !same || old?.Reason != condition.Reason || old?.Message != condition.Message || old?.ObservedGeneration != generation;
            conditions.Add(new JsonObject
            {
                ["type"] = condition.Type,
                ["status"] = status,
                ["reason"] = condition.Reason,
                ["message"] = condition.Message,
                ["observedGeneration"] = generation,
                ["lastTransitionTime"] = same && old?.LastTransitionTime is { } t ? t : time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            });
        }

        return changed
            ? new JsonObject { ["observedGeneration"] = generation, ["conditions"] = conditions, ["bundleRevision"] = update.BundleRevision }
            : null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "tenant {Tenant}: revision {Revision} is bundle sequence {Sequence}")]
    private static partial void LogSequenced(ILogger logger, string tenant, string revision, long sequence);

    [LoggerMessage(Level = LogLevel.Warning, Message = "recording an event for {Object} failed: {Reason}")]
    private static partial void LogEventFailed(ILogger logger, string @object, string reason);
}
