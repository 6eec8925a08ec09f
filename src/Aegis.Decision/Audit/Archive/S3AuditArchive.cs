using System.Net;
using Amazon.S3;
using Amazon.S3.Model;

namespace Aegis.Decision.Audit.Archive;

/// <summary>
/// Closed segments in an S3 bucket with Object Lock: each PUT carries <c>x-amz-object-lock-mode</c> and
/// <c>x-amz-object-lock-retain-until-date</c> (and the checksum S3 requires with them) and <c>If-None-Match: *</c>,
/// so an object is written once and nobody, root included in COMPLIANCE mode, can delete or replace it early.
/// </summary>
public sealed class S3AuditArchive(IAmazonS3 s3, string bucket, string prefix, ObjectLockMode mode) : IAuditArchive
{
    public string Location => $"s3://{bucket}/{prefix}";

    public string KeyFor(string replica, string fileName) => $"{prefix}{replica}/{fileName}";

    public async Task<bool> PutOnceAsync(string key, byte[] content, DateTimeOffset retainUntil, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(content, writable: false);
        try
        {
            await s3.PutObjectAsync(new PutObjectRequest
            {
                BucketName = bucket,
                Key = key,
                InputStream = body,
                AutoCloseStream = false,
                ContentType = "application/x-ndjson",
                ObjectLockMode = mode,
                ObjectLockRetainUntilDate = retainUntil.UtcDateTime,
                ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
                IfNoneMatch = "*",
            }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            return false;
        }
        catch (AmazonS3Exception e)
        {
            throw new AuditArchiveException($"s3://{bucket}/{key}: {e.ErrorCode}: {e.Message}", e);
        }
    }

    public async Task<IReadOnlyList<ArchivedObject>> ListAsync(string under, CancellationToken cancellationToken)
    {
        var objects = new List<ArchivedObject>();
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix + under };
        try
        {
            ListObjectsV2Response response;
            do
            {
                response = await s3.ListObjectsV2Async(request, cancellationToken).ConfigureAwait(false);
                objects.AddRange((response.S3Objects ?? []).Select(o => new ArchivedObject(o.Key, o.Size ?? 0)));
                request.ContinuationToken = response.NextContinuationToken;
            }
            while (response.IsTruncated == true);
        }
        catch (AmazonS3Exception e)
        {
            throw new AuditArchiveException($"s3://{bucket}/{prefix}{under}: list: {e.ErrorCode}: {e.Message}", e);
        }

        return objects;
    }

    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await s3.GetObjectAsync(bucket, key, cancellationToken).ConfigureAwait(false);
            using var content = new MemoryStream();
            await response.ResponseStream.CopyToAsync(content, cancellationToken).ConfigureAwait(false);
            return content.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (AmazonS3Exception e)
        {
            throw new AuditArchiveException($"s3://{bucket}/{key}: {e.ErrorCode}: {e.Message}", e);
        }
    }
}
