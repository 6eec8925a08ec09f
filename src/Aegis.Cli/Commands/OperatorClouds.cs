using Aegis.Operator.Publishing;
using Amazon.S3;
using Google.Cloud.Storage.V1;

namespace Aegis.Cli.Commands;

/// <summary>The cloud clients <c>aegis operator</c> publishes bundles with; credentials come from each cloud's default chain (IRSA / pod identity on AWS, Workload Identity on GKE).</summary>
internal static class OperatorClouds
{
    /// <summary>The object store publisher, or null for <c>none</c>; throws when the cloud has no usable credentials or region.</summary>
    public static async Task<ObjectStorePublisher?> ObjectStoreAsync(ObjectStoreSettings store, TimeProvider time, CancellationToken cancellationToken)
    {
        switch (store.Kind)
        {
            case "s3":
                var config = store.S3Endpoint is null ? new AmazonS3Config() : new AmazonS3Config { ServiceURL = store.S3Endpoint.ToString(), ForcePathStyle = true };
                return new S3Publisher(new AmazonS3Client(config), store.Bucket!, store.Prefix, time);
            case "gcs":
                return new GcsPublisher(await StorageClient.CreateAsync().WaitAsync(cancellationToken).ConfigureAwait(false), store.Bucket!, store.Prefix, time);
            default:
                return null;
        }
    }
}
