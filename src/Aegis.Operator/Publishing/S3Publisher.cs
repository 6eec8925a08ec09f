using System.Net;
using Amazon.S3;
using Amazon.S3.Model;

namespace Aegis.Operator.Publishing;

/// <summary>Publishes bundles to a versioned S3 bucket (see <see cref="ObjectStorePublisher"/> for the layout).</summary>
public sealed class S3Publisher(IAmazonS3 s3, string bucket, string prefix, TimeProvider time) : ObjectStorePublisher("s3", bucket, prefix, time)
{
    protected override async Task<string> PutAsync(string key, byte[] content, string contentType, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(content, writable: false);
        var response = await s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = Bucket,
            Key = key,
            InputStream = body,
            ContentType = contentType,
            AutoCloseStream = false,
        }, cancellationToken).ConfigureAwait(false);

        // Without versioning a reader could fetch a bundle other than the one the manifest names.
        return string.IsNullOrEmpty(response.VersionId) || response.VersionId == "null"
            ? throw new InvalidOperationException($"{Location(key)}: the bucket does not have versioning enabled; enable it (terraform/aws does) so manifests can name the exact bundle version")
            : response.VersionId;
    }

    protected override async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await s3.GetObjectAsync(Bucket, key, cancellationToken).ConfigureAwait(false);
            using var content = new MemoryStream();
            await response.ResponseStream.CopyToAsync(content, cancellationToken).ConfigureAwait(false);
            return content.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
