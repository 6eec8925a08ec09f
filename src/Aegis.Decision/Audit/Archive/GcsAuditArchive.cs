using System.Net;
using Google;
using Google.Cloud.Storage.V1;

namespace Aegis.Decision.Audit.Archive;

/// <summary>
/// Closed segments in a GCS bucket whose retention policy is locked (terraform/gcp): every object is held for the
/// bucket's retention period, which nobody can shorten. Uploads are conditional on the object not existing
/// (<c>ifGenerationMatch=0</c>), and an upload whose object comes back without a retention expiry is refused as not WORM.
/// </summary>
public sealed class GcsAuditArchive(StorageClient storage, string bucket, string prefix) : IAuditArchive
{
    public string Location => $"gs://{bucket}/{prefix}";

    public string KeyFor(string replica, string fileName) => $"{prefix}{replica}/{fileName}";

    public async Task<bool> PutOnceAsync(string key, byte[] content, DateTimeOffset retainUntil, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(content, writable: false);
        Google.Apis.Storage.v1.Data.Object written;
        try
        {
            written = await storage.UploadObjectAsync(bucket, key, "application/x-ndjson", body, new UploadObjectOptions { IfGenerationMatch = 0 }, cancellationToken).ConfigureAwait(false);
        }
        catch (GoogleApiException e) when (e.HttpStatusCode == HttpStatusCode.PreconditionFailed)
        {
            return false;
        }
        catch (GoogleApiException e)
        {
            throw new AuditArchiveException($"gs://{bucket}/{key}: {e.HttpStatusCode}: {e.Message}", e);
        }

        // The bucket's locked policy holds the object; without one the store is not write-once and we say so.
        if (written.RetentionExpirationTimeDateTimeOffset is not { } until || until < retainUntil.AddMinutes(-5))
        {
            throw new AuditArchiveException($"gs://{bucket}/{key}: the object is retained only until {(written.RetentionExpirationTimeDateTimeOffset?.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? "never")}; give the bucket a locked retention policy of at least the audit retention (terraform/gcp does)");
        }

        return true;
    }

    public async Task<IReadOnlyList<ArchivedObject>> ListAsync(string under, CancellationToken cancellationToken)
    {
        var objects = new List<ArchivedObject>();
        try
        {
            await foreach (var o in storage.ListObjectsAsync(bucket, prefix + under).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                objects.Add(new ArchivedObject(o.Name, (long)(o.Size ?? 0)));
            }
        }
        catch (GoogleApiException e)
        {
            throw new AuditArchiveException($"gs://{bucket}/{prefix}{under}: list: {e.HttpStatusCode}: {e.Message}", e);
        }

        objects.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return objects;
    }

    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var content = new MemoryStream();
            await storage.DownloadObjectAsync(bucket, key, content, cancellationToken: cancellationToken).ConfigureAwait(false);
            return content.ToArray();
        }
        catch (GoogleApiException e) when (e.HttpStatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (GoogleApiException e)
        {
            throw new AuditArchiveException($"gs://{bucket}/{key}: {e.HttpStatusCode}: {e.Message}", e);
        }
    }
}
