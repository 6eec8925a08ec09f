using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aegis.Contracts.Bundles;

/// <summary>
/// The bundle wire format: an OPA-layout gzipped tar of <c>.manifest</c>, <c>data.json</c> (under the root
/// <c>aegis</c>) and <c>.signatures.json</c>. Its types are this folder's, not the CRDs': renaming a CRD field never
/// changes what decision servers read. A decision server refuses a schema version it does not know.
/// </summary>
public static class BundleFormat
{
    /// <summary>The schema version this release writes.</summary>
    public const int SchemaVersion = 1;

    /// <summary>The schema versions this release reads.</summary>
    public static IReadOnlyList<int> SupportedSchemaVersions { get; } = [1];

    public const string Root = "aegis";
    public const string Manifest = ".manifest";
    public const string Data = "data.json";
    public const string Signatures = ".signatures.json";

    /// <summary>Settings for data.json and the manifest: camelCase, enums as their wire names, nulls omitted, unknown fields refused.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };
}

/// <summary>The bundle's <c>.manifest</c> (OPA format, with Aegis's schema version and sequence).</summary>
public sealed record BundleManifest
{
    /// <summary>Hex sha-256 over the canonical data.json and the canonical metadata.</summary>
    public required string Revision { get; init; }

    public IReadOnlyList<string> Roots { get; init; } = [BundleFormat.Root];

    public required int SchemaVersion { get; init; }

    /// <summary>
    /// Orders a tenant's bundles: a decision server refuses one below the sequence it holds (a rollback). The operator
    /// issues them as max(previous + 1, Unix time in ms), so they only grow; 0 marks an unsequenced bundle (tests, tools).
    /// </summary>
    public long Sequence { get; init; }

    public required BundleMetadata Metadata { get; init; }
}

/// <summary>Manifest metadata: the tenant and the source objects (with generations) the bundle was built from.</summary>
public sealed record BundleMetadata
{
    public required string Tenant { get; init; }

    public IReadOnlyList<BundleSource> Sources { get; init; } = [];
}

/// <summary>A source object of a bundle.</summary>
public sealed record BundleSource
{
    public required string Kind { get; init; }

    /// <summary>"namespace/name".</summary>
    public required string Id { get; init; }

    public long? Generation { get; init; }
}
