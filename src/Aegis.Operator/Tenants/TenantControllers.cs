using Aegis.Operator.Caching;
using Aegis.Operator.Controllers;
using Aegis.Operator.Publishing;
using Aegis.Policy.Resources;
using Aegis.Policy.Signing;
using k8s;
using k8s.Models;

namespace Aegis.Operator.Tenants;

/// <summary>
/// The two tenant controllers over the shared cache, and what wakes them. <see cref="Bundles"/> runs on every
/// replica (each serves bundles); <see cref="Statuses"/> runs only while leading. A change to an object queues its
/// tenant before and after (an object can move between tenants); a status-only update queues nothing (the generation
/// moves with the spec only); a Namespace whose tenant label changes queues its old and new tenant and every tenant
/// its objects name; a sequence record queues its tenant.
/// </summary>
public sealed class TenantControllers
{
    public TenantControllers(IKubernetes client, InformerCache cache, string operatorNamespace, ISigner signer, BundleCatalog catalog, IBundlePublisher catalogPublisher,
        IBundlePublisher? external, TimeProvider time, ILoggerFactory loggers, int workers)
    {
        Sources = new TenantSources(cache);
        Sequences = new BundleSequences(client, operatorNamespace, cache.For<V1ConfigMap>(), time);
        Builder = new BundleReconciler(Sources, new TenantCompiler(), Sequences, signer, catalogPublisher, loggers.CreateLogger<BundleReconciler>());
        Bundles = new Controller<string>("tenant-bundles", Builder, cache, time, loggers.CreateLogger<Controller<string>>())
        {
            Workers = workers,
            InitialKeys = Sources.Tenants,
        };
        Statuses = new Controller<string>("tenant-status", new TenantStatusReconciler(client, Sources, Builder, Sequences, catalog, external, time,
            loggers.CreateLogger<TenantStatusReconciler>()), cache, time, loggers.CreateLogger<Controller<string>>())
        {
            Workers = workers,
            InitialKeys = () => Builder.Tenants,
        };
        Builder.Built += Statuses.Enqueue;
        Watch<AgentPolicy>(cache);
        Watch<AgentBudget>(cache);
        Watch<TenantRegion>(cache);
        Watch<ToolServer>(cache);
        cache.For<V1Namespace>().Changed += change =>
        {
            var before = TenantBinding.TenantOf(change.Old);
            var after = TenantBinding.TenantOf(change.New);
            if (change.Old is not null && change.New is not null && before == after)
            {
                return;
            }

            foreach (var tenant in new[] { before, after }.OfType<string>())
            {
                Bundles.Enqueue(tenant);
            }

            foreach (var tenant in NamedIn(cache, (change.New ?? change.Old)!.Metadata.Name))
            {
                Bundles.Enqueue(tenant);
            }
        };
        cache.For<V1ConfigMap>().Changed += change =>
        {
            if ((change.New ?? change.Old) is { } map && BundleSequences.TenantOf(map) is { } tenant)
            {
                Bundles.Enqueue(tenant);
            }
        };
    }

    /// <summary>Compiles and serves bundles (every replica).</summary>
    public Controller<string> Bundles { get; }

    /// <summary>Sequences, publishes externally and writes status (the leader).</summary>
    public Controller<string> Statuses { get; }

    public BundleReconciler Builder { get; }

    public TenantSources Sources { get; }

    public BundleSequences Sequences { get; }

    /// <summary>Queues every tenant again (after the signing key changed, every bundle is signed anew).</summary>
    public void RequeueAll()
    {
        foreach (var tenant in Sources.Tenants())
        {
            Bundles.Enqueue(tenant);
        }
    }

    private void Watch<T>(InformerCache cache)
        where T : AegisObject =>
        cache.For<T>().Changed += change =>
        {
            if (change is { Old: { } old, New: { } now } && old.Metadata.Generation == now.Metadata.Generation && old.Tenant == now.Tenant)
            {
                return;
            }

            foreach (var tenant in new[] { change.Old?.Tenant, change.New?.Tenant }.OfType<string>().Distinct(StringComparer.Ordinal))
            {
                Bundles.Enqueue(tenant);
            }
        };

    private static IEnumerable<string> NamedIn(InformerCache cache, string ns) =>
        new IEnumerable<AegisObject>[]
        {
            cache.For<AgentPolicy>().ByIndex(InformerCache.NamespaceIndex, ns), cache.For<AgentBudget>().ByIndex(InformerCache.NamespaceIndex, ns),
            cache.For<TenantRegion>().ByIndex(InformerCache.NamespaceIndex, ns), cache.For<ToolServer>().ByIndex(InformerCache.NamespaceIndex, ns),
        }.SelectMany(o => o).Select(o => o.Tenant).Distinct(StringComparer.Ordinal);
}
