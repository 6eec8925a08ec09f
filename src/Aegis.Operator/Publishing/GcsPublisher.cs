using System.Globalization;
using System.Net;
using Google;
using Google.Cloud.Storage.V1;

namespace Aegis.Operator.Publishing;

/// <summary>Publishes bundles to a GCS bucket (see <see cref="ObjectStorePublisher"/>); the manifest names the object's generation.</summary>
public sealed class GcsPublisher(StorageClient storage, string bucket, string prefix, TimeProvider time) : ObjectStorePublisher("gs", bucket, prefix, time)
{
    protected override async Task<string> PutAsync(string key, byte[] content, string contentType, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(content, writable: false);
        var written = await storage.UploadObjectAsync(Bucket, key, contentType, body, cancellationToken: cancellationToken).ConfigureAwait(false);
        return written.Generation?.ToString(CultureInfo.InvariantCulture)
            ?? throw new InvalidOperationException($"{Location(key)}: the upload response carries no generation");
    }

    protected override async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var content = new MemoryStream();
            await storage.DownloadObjectAsync(Bucket, key, content, cancellationToken: cancellationToken).ConfigureAwait(false);
            return content.ToArray();
        }
        catch (GoogleApiException e) when (e.HttpStatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
