using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Publishing;

/// <summary>Thrown when a bundle is larger than its destination can hold.</summary>
public sealed class BundleTooLargeException(string message) : Exception(message);

/// <summary>
/// Publishes each tenant's bundle as a ConfigMap (<c>aegis-bundle-&lt;tenant&gt;</c>, binary data
/// <c>bundle.tar.gz</c>, the revision in an annotation) in the operator's namespace, for decision servers that
/// mount it. Kubernetes caps a ConfigMap at 1 MiB; a larger bundle is refused with the reason.
/// </summary>
public sealed class ConfigMapPublisher(IKubernetes client, string ns) : IBundlePublisher
{
    /// <summary>Most bytes a ConfigMap may hold.</summary>
    public const int MaxBytes = 1024 * 1024;

    public const string RevisionAnnotation = "aegis.dev/revision";
    public const string DataKey = "bundle.tar.gz";

    public static string NameFor(string tenant) => "aegis-bundle-" + tenant;

    public async Task<string?> CurrentRevisionAsync(string tenant, CancellationToken cancellationToken = default)
    {
        try
        {
            var map = await client.CoreV1.ReadNamespacedConfigMapAsync(NameFor(tenant), ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            return map.Metadata.Annotations?.TryGetValue(RevisionAnnotation, out var revision) == true ? revision : null;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task PublishAsync(string tenant, string revision, byte[] bundle, CancellationToken cancellationToken = default)
    {
        if (bundle.Length > MaxBytes)
        {
            throw new BundleTooLargeException(
                $"the bundle of tenant \"{tenant}\" is {bundle.Length:N0} bytes; a ConfigMap holds at most {MaxBytes:N0}. Publish to S3 or GCS instead (bundleStore in the chart).");
        }

        var map = new V1ConfigMap
        {
            Metadata = new V1ObjectMeta
            {
                Name = NameFor(tenant),
                NamespaceProperty = ns,
                Labels = new Dictionary<string, string> { ["aegis.dev/tenant"] = tenant, ["app.kubernetes.io/managed-by"] = "aegis-operator" },
                Annotations = new Dictionary<string, string> { [RevisionAnnotation] = revision },
            },
            BinaryData = new Dictionary<string, byte[]> { [DataKey] = bundle },
        };
        try
        {
            var existing = await client.CoreV1.ReadNamespacedConfigMapAsync(map.Metadata.Name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            map.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
            await client.CoreV1.ReplaceNamespacedConfigMapAsync(map, map.Metadata.Name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(map, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>Publishes to several destinations; a revision counts as current only when every destination has it.</summary>
public sealed class FanOutPublisher(params IBundlePublisher[] publishers) : IBundlePublisher
{
    public async Task<string?> CurrentRevisionAsync(string tenant, CancellationToken cancellationToken = default)
    {
        // Only when every destination has the revision is nothing left to publish.
        string? first = null;
        for (var i = 0; i < publishers.Length; i++)
        {
            var revision = await publishers[i].CurrentRevisionAsync(tenant, cancellationToken).ConfigureAwait(false);
            if (i == 0)
            {
                first = revision;
            }
            else if (revision != first)
            {
                return null;
            }
        }

        return first;
    }

    public async Task PublishAsync(string tenant, string revision, byte[] bundle, CancellationToken cancellationToken = default)
    {
        foreach (var publisher in publishers)
        {
            await publisher.PublishAsync(tenant, revision, bundle, cancellationToken).ConfigureAwait(false);
        }
    }
}
