using System.Text.Json;
using System.Text.Json.Serialization;
using Aegis.Policy.Resources;

namespace Aegis.Policy.Bundles;

/// <summary>
/// The compiled policy set of one tenant: the versioned contract between control plane and data plane,
/// stored in data.json under the root <c>aegis</c>. It holds no Kubernetes types.
/// </summary>
public sealed class BundleDocument
{
    public string Tenant { get; set; } = "";
    public List<BundlePolicy> Policies { get; set; } = [];
    public List<BundleBudget> Budgets { get; set; } = [];
    public List<BundleRegion> Regions { get; set; } = [];

    /// <summary>The tenant's tool catalog: which hosts are which servers, and how their calls are read and priced.</summary>
    public List<BundleToolServer> ToolServers { get; set; } = [];

    /// <summary>TenantRegion objects of this tenant that failed to load: their presence denies the whole tenant.</summary>
    public List<string> InvalidRegions { get; set; } = [];

    /// <summary>Serializer settings for data.json and the manifest (camelCase, enums as strings, nulls omitted).</summary>
    public static readonly JsonSerializerOptions SerializerOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };
}

/// <summary>One AgentPolicy in a bundle.</summary>
public sealed class BundlePolicy
{
    public string Id { get; set; } = "";
    public AgentPolicySpec Spec { get; set; } = new();
}

/// <summary>One AgentBudget in a bundle.</summary>
public sealed class BundleBudget
{
    public string Id { get; set; } = "";
    public AgentBudgetSpec Spec { get; set; } = new();
}

/// <summary>One TenantRegion in a bundle.</summary>
public sealed class BundleRegion
{
    public string Id { get; set; } = "";
    public TenantRegionSpec Spec { get; set; } = new();
}

/// <summary>One ToolServer in a bundle, with its tool prefix resolved.</summary>
public sealed class BundleToolServer
{
    public string Id { get; set; } = "";
    public string Prefix { get; set; } = "";
    public ToolServerSpec Spec { get; set; } = new();
}

/// <summary>The bundle's <c>.manifest</c> (OPA format).</summary>
public sealed class BundleManifest
{
    public string Revision { get; set; } = "";
    public List<string> Roots { get; set; } = [BundleLayout.Root];
    public BundleMetadata Metadata { get; set; } = new();
}

/// <summary>Manifest metadata: the tenant and the source objects (with generations) the bundle was built from.</summary>
public sealed class BundleMetadata
{
    public string Tenant { get; set; } = "";
    public List<BundleSource> Sources { get; set; } = [];
}

/// <summary>A source object of a bundle.</summary>
public sealed class BundleSource
{
    public string Kind { get; set; } = "";
    public string Id { get; set; } = "";
    public long? Generation { get; set; }
}

/// <summary>File names and limits of the bundle archive.</summary>
public static class BundleLayout
{
    public const string Root = "aegis";
    public const string Manifest = ".manifest";
    public const string Data = "data.json";
    public const string Signatures = ".signatures.json";

    /// <summary>No bundle file may be larger than this (a decision server must not be made to inflate a bomb).</summary>
    public const int MaxFileBytes = 64 * 1024 * 1024;
}
