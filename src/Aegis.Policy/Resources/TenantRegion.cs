namespace Aegis.Policy.Resources;

/// <summary>Data residency: which regions a tenant may run and send data in.</summary>
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
    public string Tenant { get; set; } = "";
    public List<string> AllowedRegions { get; set; } = [];
    public Dictionary<string, List<string>>? RegionHosts { get; set; }
}
