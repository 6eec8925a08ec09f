using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aegis.Operator.Publishing;

/// <summary>What an object-store publisher writes after the bundle: the revision and the exact object version that holds it.</summary>
public sealed record PublishedBundleManifest(
    [property: JsonPropertyName("tenant")] string Tenant,
    [property: JsonPropertyName("revision")] string Revision,
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("publishedAt")] DateTimeOffset PublishedAt)
{
    /// <summary>Reads a manifest, or explains why the bytes are not one.</summary>
    public static PublishedBundleManifest Parse(byte[] json, string location)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize<PublishedBundleManifest>(json);
            return manifest is { Revision.Length: > 0, Key.Length: > 0 }
                ? manifest
                : throw new InvalidDataException($"{location}: the manifest has no revision or key");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{location}: the manifest is not valid JSON: {e.Message}", e);
        }
    }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this);
}

/// <summary>
/// Publishes to an object store as <c>{prefix}{tenant}/bundle.tar.gz</c> and then <c>{prefix}{tenant}/manifest.json</c>.
/// The bundle goes first and the manifest names the version the store gave it, so a reader that follows the manifest
/// never sees a manifest pointing at a bundle that is not there yet, nor a bundle newer than its manifest.
/// </summary>
public abstract class ObjectStorePublisher(string scheme, string bucket, string prefix, TimeProvider time) : IBundlePublisher
{
    public const string BundleObject = "bundle.tar.gz";
    public const string ManifestObject = "manifest.json";

    /// <summary>The bucket written to.</summary>
    protected string Bucket => bucket;

    /// <summary>Where an object lives, for error messages (<c>s3://bucket/key</c>).</summary>
    protected string Location(string key) => $"{scheme}://{bucket}/{key}";

    public string BundleKey(string tenant) => $"{prefix}{tenant}/{BundleObject}";

    public string ManifestKey(string tenant) => $"{prefix}{tenant}/{ManifestObject}";

    public async Task<string?> CurrentRevisionAsync(string tenant, CancellationToken cancellationToken = default) =>
        (await ReadManifestAsync(tenant, cancellationToken).ConfigureAwait(false))?.Revision;

    /// <summary>The manifest last published for the tenant, or null when there is none.</summary>
    public async Task<PublishedBundleManifest?> ReadManifestAsync(string tenant, CancellationToken cancellationToken = default)
    {
        var key = ManifestKey(tenant);
        var bytes = await GetAsync(key, cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : PublishedBundleManifest.Parse(bytes, Location(key));
    }

    public async Task PublishAsync(string tenant, string revision, byte[] bundle, CancellationToken cancellationToken = default)
    {
        var key = BundleKey(tenant);
        var version = await PutAsync(key, bundle, "application/gzip", cancellationToken).ConfigureAwait(false);
        var manifest = new PublishedBundleManifest(tenant, revision, key, version, Convert.ToHexStringLower(SHA256.HashData(bundle)), bundle.Length, time.GetUtcNow());
        await PutAsync(ManifestKey(tenant), manifest.ToJson(), "application/json", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes an object and returns the version the store assigned to it.</summary>
    protected abstract Task<string> PutAsync(string key, byte[] content, string contentType, CancellationToken cancellationToken);

    /// <summary>The object's current content, or null when it does not exist.</summary>
    protected abstract Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken);
}
