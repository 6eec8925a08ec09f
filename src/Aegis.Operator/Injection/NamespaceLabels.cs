using System.Net;
using Aegis.Operator.Caching;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Injection;

/// <summary>Where the webhook reads a namespace's labels (an AdmissionReview carries the pod, not its namespace).</summary>
public interface INamespaceLabels
{
    /// <summary>The labels of <paramref name="ns"/>, or null when there is no such namespace; throws when they cannot be read.</summary>
    ValueTask<IReadOnlyDictionary<string, string>?> GetAsync(string ns, CancellationToken cancellationToken);
}

/// <summary>
/// Namespace labels from the operator's shared cache (list and watch of Namespaces), with a GET for a namespace the
/// cache has not seen yet (created a moment ago, or the cache still syncing), so an answer never waits for a watch.
/// </summary>
public sealed class NamespaceLabelCache(IKubernetes client, ResourceInformer<V1Namespace> informer) : INamespaceLabels
{
    public async ValueTask<IReadOnlyDictionary<string, string>?> GetAsync(string ns, CancellationToken cancellationToken)
    {
        if (informer.Get(null, ns) is { } cached)
        {
            return cached.Metadata.Labels is { } known ? new Dictionary<string, string>(known, StringComparer.Ordinal) : new Dictionary<string, string>(StringComparer.Ordinal);
        }

        try
        {
            var found = await client.CoreV1.ReadNamespaceAsync(ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            return found.Metadata.Labels is { } labels ? new Dictionary<string, string>(labels, StringComparer.Ordinal) : new Dictionary<string, string>();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
