using Aegis.Policy.Resources;
using k8s;

namespace Aegis.Operator.Caching;

/// <summary>
/// The operator's one shared cache (controller-runtime's <c>cache.Cache</c>): a typed informer per kind, each kind
/// listed and watched once however many controllers and readers use it. Every replica runs it, leader or not, so a
/// replica that starts leading has everything warm. <see cref="WaitForSyncAsync"/> completes when every informer has
/// listed; workers start only then and <c>/readyz</c> reports it.
/// </summary>
public sealed class InformerCache
{
    /// <summary>Index of Aegis objects by <c>spec.tenant</c>.</summary>
    public const string TenantIndex = "spec.tenant";

    /// <summary>Index of namespaced objects by <c>metadata.namespace</c>.</summary>
    public const string NamespaceIndex = "metadata.namespace";

    private readonly List<IResourceInformer> _informers = [];
    private readonly Dictionary<Type, object> _byType = [];
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private int _started;

    public InformerCache(TimeProvider time, ILoggerFactory loggers)
    {
        _time = time;
        _loggers = loggers;
    }

    /// <summary>
    /// The cache Aegis's controllers share: AgentPolicy, AgentBudget, TenantRegion, ToolServer and ApprovalRequest (indexed
    /// by tenant and namespace), Namespaces (for tenancy and the webhook), and the operator's bundle sequence ConfigMaps.
    /// </summary>
    public static InformerCache ForOperator(IKubernetes client, string operatorNamespace, TimeProvider time, ILoggerFactory loggers)
    {
        var cache = new InformerCache(time, loggers);
        cache.AddAegis<AgentPolicy>(client, "agentpolicies");
        cache.AddAegis<AgentBudget>(client, "agentbudgets");
        cache.AddAegis<TenantRegion>(client, "tenantregions");
        cache.AddAegis<ToolServer>(client, "toolservers");
        cache.AddAegis<ApprovalRequest>(client, "approvalrequests");
        cache.Add(ResourceKinds.Namespaces(client));
        cache.Add(ResourceKinds.ConfigMaps(client, operatorNamespace, Tenants.BundleSequences.Selector));
        return cache;
    }

    /// <summary>Registers a kind (before <see cref="RunAsync"/>).</summary>
    public ResourceInformer<T> Add<T>(ResourceKind<T> kind)
        where T : class
    {
        if (Volatile.Read(ref _started) != 0)
        {
            throw new InvalidOperationException($"the cache is running; register {kind.Plural} before it starts");
        }

        var informer = new ResourceInformer<T>(kind, _time, _loggers.CreateLogger<ResourceInformer<T>>());
        _informers.Add(informer);
        _byType.Add(typeof(T), informer);
        return informer;
    }

    /// <summary>Registers an Aegis kind with the tenant and namespace indexes.</summary>
    public ResourceInformer<T> AddAegis<T>(IKubernetes client, string plural)
        where T : AegisObject
    {
        var informer = Add(ResourceKinds.Aegis<T>(client, plural));
        informer.AddIndex(TenantIndex, o => [o.Tenant]);
        informer.AddIndex(NamespaceIndex, o => [o.Metadata.Namespace ?? ""]);
        return informer;
    }

    /// <summary>The informer of <typeparamref name="T"/>.</summary>
    public ResourceInformer<T> For<T>()
        where T : class =>
        _byType.TryGetValue(typeof(T), out var informer) ? (ResourceInformer<T>)informer : throw new InvalidOperationException($"the cache holds no {typeof(T).Name}");

    /// <summary>True once every informer has listed.</summary>
    public bool HasSynced => _informers.All(i => i.Synced.IsCompleted);

    /// <summary>Completes when every informer has listed (or throws when cancelled first).</summary>
    public Task WaitForSyncAsync(CancellationToken cancellationToken) => Task.WhenAll(_informers.Select(i => i.Synced)).WaitAsync(cancellationToken);

    /// <summary>Runs every informer until cancelled.</summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _started, 1);
        return Task.WhenAll(_informers.Select(i => i.RunAsync(cancellationToken)));
    }
}
