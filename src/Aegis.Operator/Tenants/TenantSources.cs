using Aegis.Operator.Caching;
using Aegis.Policy.Resources;
using k8s.Models;

namespace Aegis.Operator.Tenants;

/// <summary>An object of a tenant as the cache holds it now (a copy), with what stands between it and the bundle.</summary>
public sealed record TenantSource
{
    public required AegisObject Resource { get; init; }

    /// <summary>The resource's plural, for status writes.</summary>
    public required string Plural { get; init; }

    /// <summary>Why the object could not be read into the model, or null.</summary>
    public string? ReadError { get; init; }

    /// <summary>Why its namespace does not let it into the tenant's bundle, or null.</summary>
    public TenantRefusal? Refusal { get; init; }

    /// <summary>"Kind namespace/name".</summary>
    public string Ref => $"{Resource.Kind} {Resource.Id}";

    /// <summary>What validation depends on: the same object (uid) at the same generation validates the same, whatever its status says.</summary>
    public string LoadKey => $"{Resource.Metadata.Uid}@{Resource.Metadata.Generation}@{ReadError}";
}

/// <summary>Reads a tenant's objects from the shared cache through its tenant index, each checked against its namespace's tenant.</summary>
public sealed class TenantSources
{
    private readonly (string Plural, Func<string, IReadOnlyList<AegisObject>> ByTenant, Func<string, string, string?> ReadError)[] _kinds;
    private readonly ResourceInformer<V1Namespace> _namespaces;
    private readonly List<Func<IReadOnlyList<string>>> _tenantLists = [];

    public TenantSources(InformerCache cache)
    {
        _kinds = [Kind<AgentPolicy>(cache, "agentpolicies"), Kind<AgentBudget>(cache, "agentbudgets"), Kind<TenantRegion>(cache, "tenantregions"), Kind<ToolServer>(cache, "toolservers")];
        _namespaces = cache.For<V1Namespace>();
    }

    /// <summary>The objects whose <c>spec.tenant</c> is <paramref name="tenant"/>, in a stable order.</summary>
    public IReadOnlyList<TenantSource> Read(string tenant)
    {
        var sources = new List<TenantSource>();
        var namespaces = new Dictionary<string, V1Namespace?>(StringComparer.Ordinal);
        foreach (var (plural, byTenant, readError) in _kinds)
        {
            foreach (var obj in byTenant(tenant))
            {
                var ns = obj.Metadata.Namespace ?? "default";
                if (!namespaces.TryGetValue(ns, out var namespaceObject))
                {
                    namespaces[ns] = namespaceObject = _namespaces.Get(null, ns);
                }

                sources.Add(new TenantSource
                {
                    Resource = obj,
                    Plural = plural,
                    ReadError = readError(ns, obj.Metadata.Name),
                    Refusal = TenantBinding.Check(obj, namespaceObject),
                });
            }
        }

        return [.. sources.OrderBy(s => s.Ref, StringComparer.Ordinal)];
    }

    /// <summary>Every tenant some object names.</summary>
    public IReadOnlyList<string> Tenants() => [.. _tenantLists.SelectMany(list => list()).Distinct(StringComparer.Ordinal)];

    private (string, Func<string, IReadOnlyList<AegisObject>>, Func<string, string, string?>) Kind<T>(InformerCache cache, string plural)
        where T : AegisObject
    {
        var informer = cache.For<T>();
        _tenantLists.Add(() => informer.IndexValues(InformerCache.TenantIndex));
        return (plural, tenant => informer.ByIndex(InformerCache.TenantIndex, tenant), informer.ReadError);
    }
}
