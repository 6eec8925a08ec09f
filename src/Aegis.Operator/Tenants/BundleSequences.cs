using System.Globalization;
using System.Net;
using Aegis.Operator.Caching;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Tenants;

/// <summary>The sequence the leader gave one revision of a tenant's bundle.</summary>
public readonly record struct BundleSequence(long Sequence, string Revision);

/// <summary>
/// Per tenant, the sequence number of its current bundle revision, in a ConfigMap the leader owns
/// (<c>aegis-bundle-sequence-&lt;tenant&gt;</c> in the operator's namespace). Decision servers refuse a bundle whose
/// sequence is below the one they hold, so the number must only grow: across restarts and leader changes (it is
/// persisted, and a new leader continues from it), and even if the ConfigMap is lost (a new number is never below the
/// current Unix time in milliseconds, which is how numbers are made in the first place: max(previous + 1, now)).
/// Every replica reads the record through the shared cache and signs the revision with the leader's number, so all
/// replicas serve byte-identical bundles.
/// </summary>
public sealed class BundleSequences(IKubernetes client, string ns, ResourceInformer<V1ConfigMap> cache, TimeProvider time)
{
    /// <summary>The label selecting these ConfigMaps (the cache watches only them).</summary>
    public const string Selector = "app.kubernetes.io/component=bundle-sequence";

    public const string SequenceKey = "sequence";
    public const string RevisionKey = "revision";

    public static string NameFor(string tenant) => "aegis-bundle-sequence-" + tenant;

    /// <summary>The tenant a sequence ConfigMap is for, or null for another ConfigMap.</summary>
    public static string? TenantOf(V1ConfigMap map) =>
        map.Metadata.Labels is { } labels && labels.TryGetValue(TenantBinding.Label, out var tenant) ? tenant : null;

    /// <summary>The tenant's record as the cache holds it, or null.</summary>
    public BundleSequence? Get(string tenant) => Read(cache.Get(ns, NameFor(tenant)));

    /// <summary>
    /// Gives <paramref name="revision"/> the next number: above the recorded one and above <paramref name="floor"/> (what
    /// this replica serves already), and never below now. Conditional on the version read, so two leaders (a moment
    /// of overlap) cannot both write; a conflict is an error the controller retries.
    /// </summary>
    public async Task<BundleSequence> AssignAsync(string tenant, string revision, long floor, CancellationToken cancellationToken)
    {
        var current = cache.Get(ns, NameFor(tenant));
        var previous = Read(current)?.Sequence ?? 0;
        var next = new BundleSequence(Math.Max(Math.Max(previous, floor) + 1, time.GetUtcNow().ToUnixTimeMilliseconds()), revision);
        var map = new V1ConfigMap
        {
            Metadata = new V1ObjectMeta
            {
                Name = NameFor(tenant),
                NamespaceProperty = ns,
                ResourceVersion = current?.Metadata.ResourceVersion,
                Labels = new Dictionary<string, string>
                {
                    ["app.kubernetes.io/component"] = "bundle-sequence",
                    ["app.kubernetes.io/managed-by"] = "aegis-operator",
                    [TenantBinding.Label] = tenant,
                },
            },
            Data = new Dictionary<string, string>
            {
                [SequenceKey] = next.Sequence.ToString(CultureInfo.InvariantCulture),
                [RevisionKey] = revision,
            },
        };
        if (current is null)
        {
            try
            {
                await client.CoreV1.CreateNamespacedConfigMapAsync(map, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // The cache has not shown us the record yet; read it and go from there.
                var stored = await client.CoreV1.ReadNamespacedConfigMapAsync(map.Metadata.Name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                map.Metadata.ResourceVersion = stored.Metadata.ResourceVersion;
                var stale = Read(stored)?.Sequence ?? 0;
                next = next with { Sequence = Math.Max(next.Sequence, stale + 1) };
                map.Data[SequenceKey] = next.Sequence.ToString(CultureInfo.InvariantCulture);
                await client.CoreV1.ReplaceNamespacedConfigMapAsync(map, map.Metadata.Name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            await client.CoreV1.ReplaceNamespacedConfigMapAsync(map, map.Metadata.Name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        return next;
    }

    private static BundleSequence? Read(V1ConfigMap? map) =>
        map?.Data is { } data && data.TryGetValue(SequenceKey, out var text) && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
            && data.TryGetValue(RevisionKey, out var revision)
            ? new BundleSequence(sequence, revision)
            : null;
}
