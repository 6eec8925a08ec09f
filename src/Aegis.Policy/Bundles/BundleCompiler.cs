using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;

namespace Aegis.Policy.Bundles;

/// <summary>The unsigned content of a tenant bundle: canonical data.json and .manifest bytes, and the revision.</summary>
public sealed record BundleContent(string Tenant, string Revision, BundleDocument Document, byte[] DataJson, byte[] ManifestJson);

/// <summary>Compiles one tenant's objects into bundle content. Deterministic: object order never matters.</summary>
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
        var document = new BundleDocument
        {
            Tenant = tenant,
            Policies = [.. mine.OfType<AgentPolicy>().Select(p => new BundlePolicy { Id = p.Id, Spec = p.Spec })],
            Budgets = [.. mine.OfType<AgentBudget>().Select(b => new BundleBudget { Id = b.Id, Spec = b.Spec })],
            Regions = [.. mine.OfType<TenantRegion>().Select(r => new BundleRegion { Id = r.Id, Spec = r.Spec })],
            ToolServers = [.. mine.OfType<ToolServer>().Select(t => new BundleToolServer { Id = t.Id, Prefix = t.ToolPrefix, Spec = t.Spec })],
            InvalidRegions = [.. (rejected ?? []).Where(r => r.Tenant == tenant && r.Kind == TenantRegion.KindName)
                .Select(r => r.Id).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
        };
        var metadata = new BundleMetadata
        {
            Tenant = tenant,
            Sources = [.. mine.Select(o => new BundleSource { Kind = o.Kind, Id = o.Id, Generation = o.Metadata.Generation })],
        };
        return Build(document, metadata);
    }

    /// <summary>Builds content from a document (used by the compiler and by tools that edit documents directly).</summary>
    public static BundleContent Build(BundleDocument document, BundleMetadata metadata)
    {
        var data = new JsonObject { [BundleLayout.Root] = JsonSerializer.SerializeToNode(document, BundleDocument.SerializerOptions) };
        var dataJson = CanonicalJson.Serialize(JsonSerializer.SerializeToElement(data));
        var metadataJson = CanonicalJson.SerializeValue(metadata, BundleDocument.SerializerOptions);
        var revision = ComputeRevision(dataJson, metadataJson);
        var manifest = new BundleManifest { Revision = revision, Metadata = metadata };
        var manifestJson = CanonicalJson.SerializeValue(manifest, BundleDocument.SerializerOptions);
        return new BundleContent(document.Tenant, revision, document, dataJson, manifestJson);
    }

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
