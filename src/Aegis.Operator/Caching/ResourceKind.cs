using System.Text.Json;
using System.Text.Json.Serialization;
using Aegis.Policy.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Caching;

/// <summary>A typed object as read from the API server, or (with its identity only) the reason it could not be read.</summary>
public readonly record struct ReadObject<T>(T Value, string? Error);

/// <summary>One typed list: the items and the resourceVersion to watch from.</summary>
public sealed record ResourceListing<T>(IReadOnlyList<ReadObject<T>> Items, string ResourceVersion);

/// <summary>
/// How the cache lists and watches one kind as typed objects, and how it names them. Lists deserialize the client's
/// parsed body straight into <typeparamref name="T"/>; watches are the client's <c>Watch&lt;T&gt;</c>, which
/// deserializes each event into <typeparamref name="T"/>: no object is turned back into text.
/// </summary>
public sealed class ResourceKind<T>
    where T : class
{
    /// <summary>The resource's plural (agentpolicies, namespaces), for logs and metrics.</summary>
    public required string Plural { get; init; }

    public required Func<CancellationToken, Task<ResourceListing<T>>> List { get; init; }

    /// <summary>Watches from a resourceVersion with a server-side timeout (seconds); failures the watcher swallows go to the callback.</summary>
    public required Func<string, int, Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType Type, ReadObject<T> Read)>> Watch { get; init; }

    /// <summary>namespace (null for cluster-scoped kinds), name and resourceVersion.</summary>
    public required Func<T, (string? Namespace, string Name, string? ResourceVersion)> Identity { get; init; }

    /// <summary>Applied to every object as it enters the cache (client-go's transform: drop what nobody reads).</summary>
    public Func<T, T> Transform { get; init; } = o => o;
}

/// <summary>The kinds the operator caches.</summary>
public static class ResourceKinds
{
    /// <summary>An Aegis custom resource across all namespaces.</summary>
    public static ResourceKind<TObject> Aegis<TObject>(IKubernetes client, string plural)
        where TObject : AegisObject => new()
        {
            Plural = plural,
            List = async ct =>
            {
                using var response = await client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(AegisObject.Group, AegisObject.Version, plural, cancellationToken: ct).ConfigureAwait(false);
                var list = ((JsonElement)response.Body).Deserialize<CustomResourceList<Readable<TObject>>>(ResourceJson.Options)
                    ?? throw new InvalidDataException($"the list of {plural} is empty");
                return new ResourceListing<TObject>([.. list.Items.Select(i => i.Read)], list.Metadata.ResourceVersion);
            },
            Watch = (from, timeout, onError, ct) => Read(TypedWatch<Readable<TObject>>(client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(AegisObject.Group, AegisObject.Version,
                plural, allowWatchBookmarks: true, resourceVersion: from, timeoutSeconds: timeout, watch: true, cancellationToken: ct), onError, ct), ct),
            Identity = o => (o.Metadata.Namespace, o.Metadata.Name, o.Metadata.ResourceVersion),
        };

    /// <summary>The cluster's Namespaces, kept as name, labels and the <c>aegis.dev/</c> annotations only (exemptions live there).</summary>
    public static ResourceKind<V1Namespace> Namespaces(IKubernetes client) => new()
    {
        Plural = "namespaces",
        List = async ct =>
        {
            var list = await client.CoreV1.ListNamespaceAsync(cancellationToken: ct).ConfigureAwait(false);
            return new ResourceListing<V1Namespace>([.. list.Items.Select(n => new ReadObject<V1Namespace>(n, null))], list.Metadata.ResourceVersion);
        },
        Watch = (from, timeout, onError, ct) => Read(client.CoreV1.WatchListNamespaceAsync(allowWatchBookmarks: true, resourceVersion: from, timeoutSeconds: timeout,
            onError: onError, cancellationToken: ct), ct),
        Identity = n => (null, n.Metadata.Name, n.Metadata.ResourceVersion),
        Transform = n => new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = n.Metadata.Name, Uid = n.Metadata.Uid, ResourceVersion = n.Metadata.ResourceVersion, Labels = n.Metadata.Labels, Annotations = AegisAnnotations(n.Metadata.Annotations) },
        },
    };

    // Other annotations (kubectl's last-applied configuration, say) can be large and are never read.
    private static Dictionary<string, string>? AegisAnnotations(IDictionary<string, string>? annotations)
    {
        var kept = annotations?.Where(a => a.Key.StartsWith("aegis.dev/", StringComparison.Ordinal)).ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);
        return kept is { Count: > 0 } ? kept : null;
    }

    /// <summary>ConfigMaps of one namespace that carry <paramref name="labelSelector"/>.</summary>
    public static ResourceKind<V1ConfigMap> ConfigMaps(IKubernetes client, string ns, string labelSelector) => new()
    {
        Plural = "configmaps",
        List = async ct =>
        {
            var list = await client.CoreV1.ListNamespacedConfigMapAsync(ns, labelSelector: labelSelector, cancellationToken: ct).ConfigureAwait(false);
            return new ResourceListing<V1ConfigMap>([.. list.Items.Select(m => new ReadObject<V1ConfigMap>(m, null))], list.Metadata.ResourceVersion);
        },
        Watch = (from, timeout, onError, ct) => Read(client.CoreV1.WatchListNamespacedConfigMapAsync(ns, allowWatchBookmarks: true, labelSelector: labelSelector,
            resourceVersion: from, timeoutSeconds: timeout, onError: onError, cancellationToken: ct), ct),
        Identity = m => (m.Metadata.NamespaceProperty, m.Metadata.Name, m.Metadata.ResourceVersion),
        Transform = m =>
        {
            m.Metadata.ManagedFields = null;
            return m;
        },
    };

    // The generated custom-object watch yields untyped objects; this is the client's typed Watch<T> over the same call.
#pragma warning disable CS0618
    private static IAsyncEnumerable<(WatchEventType, T)> TypedWatch<T>(Task<HttpOperationResponse<object>> response, Action<Exception> onError, CancellationToken ct) =>
        response.WatchAsync<T, object>(onError, ct);
#pragma warning restore CS0618

    private static async IAsyncEnumerable<(WatchEventType, ReadObject<T>)> Read<T>(IAsyncEnumerable<(WatchEventType Type, T Value)> events, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var (type, obj) in events.WithCancellation(ct).ConfigureAwait(false))
        {
            yield return (type, new ReadObject<T>(obj, null));
        }
    }

    private static async IAsyncEnumerable<(WatchEventType, ReadObject<TObject>)> Read<TObject>(IAsyncEnumerable<(WatchEventType Type, Readable<TObject> Value)> events, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        where TObject : AegisObject
    {
        await foreach (var (type, obj) in events.WithCancellation(ct).ConfigureAwait(false))
        {
            yield return (type, obj.Read);
        }
    }
}


/// <summary>
/// An Aegis object read straight from the JSON the client parses, one object at a time: one that does not fit the
/// model (a CRD newer than this operator, say) keeps its metadata and the reason, and never breaks the watch of the
/// others. Bookmarks carry only metadata and read as an object with an empty spec.
/// </summary>
[JsonConverter(typeof(ReadableConverterFactory))]
internal sealed class Readable<T>
    where T : AegisObject
{
    public ReadObject<T> Read { get; init; }
}

internal sealed class ReadableConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(Readable<>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(ReadableConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;
}

internal sealed class ReadableConverter<T> : JsonConverter<Readable<T>>
    where T : AegisObject
{
    public override Readable<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        try
        {
            var value = document.RootElement.Deserialize<T>(ResourceJson.Options) ?? throw new JsonException("the object is null");
            return new Readable<T> { Read = new ReadObject<T>(value, null) };
        }
        catch (JsonException e)
        {
            var shell = Activator.CreateInstance<T>();
            if (document.RootElement.TryGetProperty("metadata", out var metadata))
            {
                shell.Metadata = metadata.Deserialize<ObjectMetadata>(ResourceJson.Options) ?? new ObjectMetadata();
            }

            var path = (e.Path ?? "$").TrimStart('$').TrimStart('.');
            return new Readable<T> { Read = new ReadObject<T>(shell, $"{(path.Length == 0 ? "object" : path)}: does not fit the {typeof(T).Name} model ({e.Message.Split(" Path:")[0]})") };
        }
    }

    public override void Write(Utf8JsonWriter writer, Readable<T> value, JsonSerializerOptions options) =>
        throw new NotSupportedException("objects are only read from the API server");
}

/// <summary>A list of custom resources as the API server returns it.</summary>
internal sealed class CustomResourceList<T>
{
    public ListMetadata Metadata { get; set; } = new();
    public List<T> Items { get; set; } = [];

    public sealed class ListMetadata
    {
        public string ResourceVersion { get; set; } = "";
    }
}

/// <summary>How Aegis objects are read from the API server's JSON (the client's own settings: camelCase).</summary>
internal static class ResourceJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}

/// <summary>A watch failure the informer recovers from by listing again (the server answered 410 Gone).</summary>
internal static class WatchErrors
{
    public static bool IsGone(Exception e) => e is KubernetesException { Status.Code: 410 } || (e is HttpOperationException h && (int)h.Response.StatusCode == 410);
}
