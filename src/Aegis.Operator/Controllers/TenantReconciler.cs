using Aegis.Operator.Publishing;
using Aegis.Policy.Bundles;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Controllers;

/// <summary>An object as the informer cache holds it: its identity, generation and JSON from the API server.</summary>
public sealed record CachedObject(string Kind, string Namespace, string Name, long Generation, string Json)
{
    /// <summary>metadata.uid: with <see cref="Generation"/> it identifies a spec without comparing JSON.</summary>
    public string? Uid { get; init; }

    /// <summary>What loading depends on: the same object (uid) at the same generation loads the same, whatever its status says.</summary>
    internal string LoadKey => Uid is null ? Json : $"{Uid}@{Generation}";

    /// <summary>"Kind namespace/name".</summary>
    public string Ref => $"{Kind} {Namespace}/{Name}";
}

/// <summary>A status condition the reconciler wants on an object (written with observedGeneration = its generation).</summary>
public sealed record ConditionUpdate(string Type, bool Status, string Reason, string Message);

/// <summary>The status one object should have after a reconcile.</summary>
public sealed record ObjectStatusUpdate(CachedObject Source, ConditionUpdate Accepted, ConditionUpdate Ready, string? BundleRevision);

/// <summary>What a tenant reconcile did.</summary>
public sealed record TenantReconcileResult(string Tenant, string Revision, bool Published, IReadOnlyList<ObjectStatusUpdate> Statuses);

/// <summary>
/// Reconcile(tenant): compile every object of the tenant as the cache holds it now, sign, and publish when the
/// revision changed. Level-based and idempotent: the same objects give the same revision and publish nothing. An
/// invalid object is reported (Accepted=False with the loader's error) and left out; an invalid TenantRegion
/// makes the bundle deny the tenant rather than lose its residency rules.
/// </summary>
public sealed class TenantReconciler(ISigner signer, IBundlePublisher publisher)
{
    // Per tenant, each object's JSON as last loaded and what loading it gave: a reconcile re-loads only the objects
    // that changed, so one edit in a tenant of hundreds costs one parse, not hundreds.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Dictionary<string, (string Key, LoadResult Load)>> _loaded = new(StringComparer.Ordinal);

    public async Task<TenantReconcileResult> ReconcileAsync(string tenant, IReadOnlyCollection<CachedObject> objects, CancellationToken cancellationToken = default)
    {
        var valid = new List<(CachedObject Source, AegisObject Object)>();
        var invalid = new List<(CachedObject Source, string Errors)>();
        var rejected = new List<RejectedObject>();
        var previous = _loaded.GetValueOrDefault(tenant);
        var loaded = new Dictionary<string, (string Key, LoadResult Load)>(objects.Count, StringComparer.Ordinal);
        foreach (var source in objects.Where(o => o.Kind != ApprovalRequest.KindName).OrderBy(o => o.Ref, StringComparer.Ordinal))
        {
            var load = previous is not null && previous.TryGetValue(source.Ref, out var known) && known.Key == source.LoadKey
                ? known.Load
                : ManifestLoader.LoadText(source.Json, source.Ref);
            loaded[source.Ref] = (source.LoadKey, load);
            if (load.Succeeded && load.Objects is [var obj])
            {
                obj.Metadata.Generation = source.Generation;
                valid.Add((source, obj));
            }
            else
            {
                invalid.Add((source, string.Join("; ", load.Errors.Select(e => $"{e.Field}: {e.Reason}"))));
                rejected.AddRange(load.Rejected);
            }
        }

        // Replaced whole, so deleted objects leave the cache with their tenant's next reconcile.
        _loaded[tenant] = loaded;

        // Objects without a usable tenant are only reported: there is no tenant to publish a bundle for.
        var publishable = System.Text.RegularExpressions.Regex.IsMatch(tenant, ResourcePatterns.DnsLabel);
        var content = BundleCompiler.Compile(tenant, valid.Select(v => v.Object), rejected);
        var published = false;
        if (publishable && await publisher.CurrentRevisionAsync(tenant, cancellationToken).ConfigureAwait(false) != content.Revision)
        {
            var archive = await BundleArchive.SignAndPackAsync(content, signer, cancellationToken).ConfigureAwait(false);
            await publisher.PublishAsync(tenant, content.Revision, archive, cancellationToken).ConfigureAwait(false);
            published = true;
        }

        var statuses = new List<ObjectStatusUpdate>();
        foreach (var (source, _) in valid)
        {
            statuses.Add(new ObjectStatusUpdate(source,
                new ConditionUpdate("Accepted", true, "Valid", "the object is valid"),
                new ConditionUpdate("Ready", true, "Published", $"in bundle {content.Revision} of tenant {tenant}"),
                content.Revision));
        }

        foreach (var (source, errors) in invalid)
        {
            statuses.Add(new ObjectStatusUpdate(source,
                new ConditionUpdate("Accepted", false, "Invalid", errors),
                new ConditionUpdate("Ready", false, "NotInBundle", source.Kind == TenantRegion.KindName
                    ? $"tenant {tenant} is denied until this TenantRegion is fixed"
                    : $"left out of bundle {content.Revision}; the rest of tenant {tenant} is published"),
                null));
        }

        return new TenantReconcileResult(tenant, content.Revision, published, statuses);
    }
}
