namespace Aegis.Policy.Resources;

/// <summary>Data residency: which regions a tenant may run and send data in.</summary>
[Kind("tenantregions", "tr", "Tenant|string|.spec.tenant", "Ready|string|.status.conditions[?(@.type==\"Ready\")].status", "Revision|string|.status.bundleRevision", "Age|date|.metadata.creationTimestamp")]
public sealed class TenantRegion : AegisObject<TenantRegionSpec, CompiledObjectStatus>
{
    /// <summary>The kind name.</summary>
    public const string KindName = "TenantRegion";

    public TenantRegion() => Kind = KindName;

    public override string Tenant => Spec.Tenant;
}

/// <summary>Spec of a TenantRegion.</summary>
public sealed class TenantRegionSpec
{
    [Schema(Required = true, Pattern = ResourcePatterns.DnsLabel)]
    public string Tenant { get; set; } = "";

    [Schema(Required = true, MinItems = 1, ItemPattern = ResourcePatterns.Region)]
    public List<string> AllowedRegions { get; set; } = [];

    [Schema(Description = "Egress host globs per region.")]
    public Dictionary<string, List<string>>? RegionHosts { get; set; }
}
