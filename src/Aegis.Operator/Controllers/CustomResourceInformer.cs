using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Controllers;

/// <summary>A change the informer saw: the object before (null when added) and after (null when deleted).</summary>
public sealed record ResourceChange(string Plural, JsonObject? Old, JsonObject? New);

/// <summary>
/// Keeps a cache of one custom resource (or, through <see cref="ForNamespaces"/>, of a core kind) across all
/// namespaces, in the manner of client-go's informer: list,
/// then watch from the list's resourceVersion with bookmarks; re-watch from the last version when the server
/// ends the stream; re-list after 410 Gone; <c>timeoutSeconds</c> against dead connections; backoff on errors.
/// Objects are kept as the API server's JSON, which the loader reads directly.
/// </summary>
public sealed partial class CustomResourceInformer
{
    /// <summary>Lists (resourceVersion null) or watches from a resourceVersion with a server-side timeout in seconds.</summary>
    private readonly Func<string?, int, CancellationToken, Task<HttpOperationResponse>> _request;
    private readonly string _plural;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, JsonObject> _cache = new(StringComparer.Ordinal);
    private volatile bool _synced;

    public CustomResourceInformer(IKubernetes client, string group, string version, string plural, ILogger logger)
        : this(plural, async (from, timeout, ct) => from is null
            ? await client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(group, version, plural, cancellationToken: ct).ConfigureAwait(false)
            : await client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(group, version, plural, allowWatchBookmarks: true, resourceVersion: from,
                timeoutSeconds: timeout, watch: true, cancellationToken: ct).ConfigureAwait(false), logger)
    {
    }

    private CustomResourceInformer(string plural, Func<string?, int, CancellationToken, Task<HttpOperationResponse>> request, ILogger logger)
    {
        _plural = plural;
        _request = request;
        _logger = logger;
    }

    /// <summary>An informer over the cluster's Namespace objects (the webhook reads their labels).</summary>
    public static CustomResourceInformer ForNamespaces(IKubernetes client, ILogger logger) =>
        new("namespaces", async (from, timeout, ct) => from is null
            ? await client.CoreV1.ListNamespaceWithHttpMessagesAsync(cancellationToken: ct).ConfigureAwait(false)
            : await client.CoreV1.ListNamespaceWithHttpMessagesAsync(allowWatchBookmarks: true, resourceVersion: from,
                timeoutSeconds: timeout, watch: true, cancellationToken: ct).ConfigureAwait(false), logger);

    public string Plural => _plural;

    /// <summary>Asked of the server so a silently dead connection ends and is re-established.</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Raised for every change, on the informer's task.</summary>
    public event Action<ResourceChange>? Changed;

    /// <summary>True once the first list has filled the cache.</summary>
    public bool HasSynced => _synced;

    /// <summary>The cached objects.</summary>
    public IReadOnlyList<JsonObject> Snapshot()
    {
        lock (_lock)
        {
            return [.. _cache.Values];
        }
    }

    /// <summary>The cached object <paramref name="name"/> (in <paramref name="ns"/>, or null for cluster-scoped kinds).</summary>
    public JsonObject? Get(string? ns, string name)
    {
        lock (_lock)
        {
            return _cache.TryGetValue($"{ns}/{name}", out var found) ? found : null;
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var version = await ListAsync(cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(100);
                while (version is not null && !cancellationToken.IsCancellationRequested)
                {
                    version = await WatchAsync(version, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not OutOfMemoryException)
            {
                LogFailed(_logger, _plural, e.Message, backoff.TotalMilliseconds);
                await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
            }
        }
    }

    private async Task<string> ListAsync(CancellationToken cancellationToken)
    {
        using var response = await _request(null, 0, cancellationToken).ConfigureAwait(false);
        var node = ListBody(response);
        var fresh = node["items"]!.AsArray().Select(i => i!.AsObject()).ToDictionary(Key, StringComparer.Ordinal);
        var changes = new List<ResourceChange>();
        lock (_lock)
        {
            foreach (var (key, obj) in fresh)
            {
                _cache.TryGetValue(key, out var old);
                if (old is null || !JsonNode.DeepEquals(old, obj))
                {
                    changes.Add(new ResourceChange(_plural, old, obj));
                }
            }

            foreach (var (key, old) in _cache.Where(c => !fresh.ContainsKey(c.Key)))
            {
                changes.Add(new ResourceChange(_plural, old, null));
            }

            _cache.Clear();
            foreach (var (key, obj) in fresh)
            {
                _cache[key] = obj;
            }
        }

        _synced = true;
        foreach (var change in changes)
        {
            Changed?.Invoke(change);
        }

        return node["metadata"]!["resourceVersion"]!.ToString();
    }

    /// <summary>Watches from <paramref name="from"/>; returns the version to continue from, or null to re-list.</summary>
    private async Task<string?> WatchAsync(string from, CancellationToken cancellationToken)
    {
        using var response = await _request(from, (int)WatchTimeout.TotalSeconds, cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
        var current = from;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var evt = JsonNode.Parse(line)!;
            var type = evt["type"]!.ToString();
            var obj = evt["object"]!.AsObject();
            if (type == "ERROR")
            {
                if (obj["code"]?.ToString() == "410")
                {
                    LogGone(_logger, _plural, current);
                    return null;
                }

                throw new InvalidOperationException($"watch of {_plural} failed: {obj["message"]}");
            }

            current = obj["metadata"]?["resourceVersion"]?.ToString() ?? current;
            if (type == "BOOKMARK")
            {
                continue;
            }

            ResourceChange change;
            lock (_lock)
            {
                var key = Key(obj);
                _cache.TryGetValue(key, out var old);
                if (type == "DELETED")
                {
                    _cache.Remove(key);
                    change = new ResourceChange(_plural, old ?? obj, null);
                }
                else
                {
                    _cache[key] = obj;
                    change = new ResourceChange(_plural, old, obj);
                }
            }

            Changed?.Invoke(change);
        }

        // The server ended the stream (its timeout, or a restart): watch again from where we are.
        return current;
    }

    /// <summary>The list as JSON, whether the client deserialized it into a model type or into a JsonElement.</summary>
    private static JsonNode ListBody(HttpOperationResponse response) => response switch
    {
        HttpOperationResponse<object> { Body: JsonElement element } => JsonNode.Parse(element.GetRawText())!,
        HttpOperationResponse<V1NamespaceList> { Body: { } namespaces } => JsonNode.Parse(KubernetesJson.Serialize(namespaces))!,
        _ => throw new InvalidOperationException($"the list of {response.GetType().Name} has no body"),
    };

    private static string Key(JsonObject obj) =>
        $"{obj["metadata"]?["namespace"]}/{obj["metadata"]?["name"]}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "informer for {Plural} failed: {Reason}; retrying in {DelayMs} ms")]
    private static partial void LogFailed(ILogger logger, string plural, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "watch of {Plural} from {Version} expired (410 Gone); listing again")]
    private static partial void LogGone(ILogger logger, string plural, string version);
}
