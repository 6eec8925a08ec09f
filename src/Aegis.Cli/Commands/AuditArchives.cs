using Aegis.Decision.Audit.Archive;
using Amazon.S3;
using Google.Apis.Auth.OAuth2;
using Google.Cloud.Storage.V1;

namespace Aegis.Cli.Commands;

/// <summary>
/// Opens the archive an <c>s3://bucket/prefix</c> or <c>gs://bucket/prefix</c> address names. Credentials come from
/// each cloud's default chain (IRSA or pod identity on AWS, Workload Identity on GKE); <c>GOOGLE_OAUTH_ACCESS_TOKEN</c>
/// supplies a bearer token directly. An endpoint override points at an S3-compatible store or a GCS emulator.
/// </summary>
internal static class AuditArchives
{
    public static async Task<IAuditArchive> OpenAsync(string url, Uri? s3Endpoint, Uri? gcsEndpoint, ObjectLockMode lockMode, CancellationToken cancellationToken)
    {
        if (!ArchiveAddress.TryParse(url, out var scheme, out var bucket, out var prefix, out var error))
        {
            throw new FormatException(error);
        }

        if (scheme == "s3")
        {
            var config = s3Endpoint is null ? new AmazonS3Config() : new AmazonS3Config { ServiceURL = s3Endpoint.ToString(), ForcePathStyle = true };
            return new S3AuditArchive(new AmazonS3Client(config), bucket, prefix, lockMode);
        }

        var token = Environment.GetEnvironmentVariable("GOOGLE_OAUTH_ACCESS_TOKEN");
        var credential = token is { Length: > 0 }
            ? GoogleCredential.FromAccessToken(token)
            : await GoogleCredential.GetApplicationDefaultAsync(cancellationToken).ConfigureAwait(false);
        var builder = new StorageClientBuilder { Credential = credential };
        if (gcsEndpoint is not null)
        {
            builder.BaseUri = new Uri(gcsEndpoint, "storage/v1/").ToString();
        }

        return new GcsAuditArchive(await builder.BuildAsync(cancellationToken).ConfigureAwait(false), bucket, prefix);
    }
}
