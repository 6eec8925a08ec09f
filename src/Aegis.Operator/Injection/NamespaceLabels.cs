using System.Net;
using Aegis.Operator.Caching;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Injection;

/// <summary>A namespace's labels and annotations: what admins set on it decides injection, tenancy and exemptions.</summary>
public sealed record NamespaceMetadata(IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<string, string> Annotations)
{
    public static readonly NamespaceMetadata Empty = new(new Dictionary<string, string>(), new Dictionary<string, string>());
}

/// <summary>Where the webhook reads a namespace's metadata (an AdmissionReview carries the pod, not its namespace).</summary>
public interface INamespaceLabels
{
    /// <summary>The metadata of <paramref name="ns"/>, or null when there is no such namespace; throws when it cannot be read.</summary>
    ValueTask<NamespaceMetadata?> GetAsync(string ns, CancellationToken cancellationToken);
}

/// <summary>
/// Namespace metadata from the operator's shared cache (list and watch of Namespaces), with a GET for a namespace the
/// cache has not seen yet (created a moment ago, or the cache still syncing), so an answer never waits for a watch.
/// </summary>
public sealed class NamespaceLabelCache(IKubernetes client, ResourceInformer<V1Namespace> informer) : INamespaceLabels
{
    public async ValueTask<NamespaceMetadata?> GetAsync(string ns, CancellationToken cancellationToken)
    {
        if (informer.Get(null, ns) is { } cached)
        {
            return new NamespaceMetadata(Copy(cached.Metadata.Labels), Copy(cached.Metadata.Annotations));
        }

        try
        {
            var found = await client.CoreV1.ReadNamespaceAsync(ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            return new NamespaceMetadata(Copy(found.Metadata.Labels), Copy(found.Metadata.Annotations));
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static Dictionary<string, string> Copy(IDictionary<string, string>? values) =>
        values is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(values, StringComparer.Ordinal);
}
