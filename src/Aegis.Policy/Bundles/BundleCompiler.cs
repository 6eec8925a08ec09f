using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Contracts.Bundles;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;

namespace Aegis.Policy.Bundles;

/// <summary>The unsigned content of a tenant bundle: the wire data, canonical data.json and .manifest bytes, the revision and the sequence.</summary>
public sealed record BundleContent
{
    public required string Tenant { get; init; }

    /// <summary>Hex sha-256 of the canonical data and metadata: the same content has the same revision, whatever its sequence.</summary>
    public required string Revision { get; init; }

    /// <summary>Orders the tenant's bundles (see <see cref="BundleManifest.Sequence"/>); 0 until <see cref="WithSequence"/>.</summary>
    public long Sequence { get; init; }

    public required BundleData Data { get; init; }

    public required BundleMetadata Metadata { get; init; }

    public required byte[] DataJson { get; init; }

    public required byte[] ManifestJson { get; init; }

    /// <summary>The same content carrying <paramref name="sequence"/> in its manifest (the revision does not change).</summary>
    public BundleContent WithSequence(long sequence) => sequence == Sequence ? this : this with
    {
        Sequence = sequence,
        ManifestJson = BundleCompiler.Manifest(Revision, Metadata, sequence),
    };
}

/// <summary>Compiles one tenant's objects into bundle content in the wire format (<see cref="BundleData"/>). Deterministic: object order never matters.</summary>
public static class BundleCompiler
{
    /// <summary>The tenants named by loaded and rejected objects, sorted.</summary>
    public static IReadOnlyList<string> Tenants(LoadResult load) =>
        [.. load.Objects.Where(o => o is not ApprovalRequest).Select(o => o.Tenant)
            .Concat(load.Rejected.Where(r => r.Tenant is not null && r.Kind != ApprovalRequest.KindName).Select(r => r.Tenant!))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>
    /// Compiles the objects of <paramref name="tenant"/> (others are ignored). Rejected TenantRegion objects of the
    /// tenant are recorded so the data plane denies the tenant rather than dropping its residency rules.
    /// </summary>
    public static BundleContent Compile(string tenant, IEnumerable<AegisObject> objects, IEnumerable<RejectedObject>? rejected = null)
    {
        var mine = objects.Where(o => o.Tenant == tenant && o is not ApprovalRequest)
            .OrderBy(o => o.Kind, StringComparer.Ordinal)
            .ThenBy(o => o.Id, StringComparer.Ordinal)
            .ToList();
        var data = new BundleData
        {
            SchemaVersion = BundleFormat.SchemaVersion,
            Tenant = tenant,
            Policies = [.. mine.OfType<AgentPolicy>().Select(BundleWire.Policy)],
            Budgets = [.. mine.OfType<AgentBudget>().Select(BundleWire.Budget)],
            Regions = [.. mine.OfType<TenantRegion>().Select(BundleWire.Region)],
            ToolServers = [.. mine.OfType<ToolServer>().Select(BundleWire.ToolServer)],
            InvalidRegions = [.. (rejected ?? []).Where(r => r.Tenant == tenant && r.Kind == TenantRegion.KindName)
                .Select(r => r.Id).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
        };
        var metadata = new BundleMetadata
        {
            Tenant = tenant,
            Sources = [.. mine.Select(o => new BundleSource { Kind = o.Kind, Id = o.Id, Generation = o.Metadata.Generation })],
        };
        return Build(data, metadata);
    }

    /// <summary>Builds content from wire data (used by the compiler and by tools that edit data directly).</summary>
    public static BundleContent Build(BundleData data, BundleMetadata metadata)
    {
        var root = new JsonObject { [BundleFormat.Root] = JsonSerializer.SerializeToNode(data, BundleFormat.Json) };
        var dataJson = CanonicalJson.Serialize(JsonSerializer.SerializeToElement(root));
        var revision = ComputeRevision(dataJson, CanonicalJson.SerializeValue(metadata, BundleFormat.Json));
        return new BundleContent
        {
            Tenant = data.Tenant,
            Revision = revision,
            Data = data,
            Metadata = metadata,
            DataJson = dataJson,
            ManifestJson = Manifest(revision, metadata, 0),
        };
    }

    /// <summary>The canonical .manifest of a revision.</summary>
    public static byte[] Manifest(string revision, BundleMetadata metadata, long sequence) =>
        CanonicalJson.SerializeValue(new BundleManifest { Revision = revision, SchemaVersion = BundleFormat.SchemaVersion, Sequence = sequence, Metadata = metadata }, BundleFormat.Json);

    /// <summary>Revision: hex sha-256 over the canonical data.json, a newline, and the canonical manifest metadata.</summary>
    public static string ComputeRevision(ReadOnlySpan<byte> canonicalData, ReadOnlySpan<byte> canonicalMetadata)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(canonicalData);
        hash.AppendData("\n"u8);
        hash.AppendData(canonicalMetadata);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
