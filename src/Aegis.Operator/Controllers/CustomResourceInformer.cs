using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;

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
    private readonly Func<CancellationToken, Task<JsonNode>> _list;

    /// <summary>Watches from a resourceVersion with a server-side timeout in seconds, as newline-delimited watch events.</summary>
    private readonly Func<string, int, CancellationToken, IAsyncEnumerable<string>> _watch;
    private readonly string _plural;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, JsonObject> _cache = new(StringComparer.Ordinal);
    private volatile bool _synced;

    public CustomResourceInformer(IKubernetes client, string group, string version, string plural, ILogger logger)
        : this(plural,
            async ct => JsonNode.Parse(((JsonElement)await client.CustomObjects.ListClusterCustomObjectAsync(group, version, plural, cancellationToken: ct).ConfigureAwait(false)).GetRawText())!,
            (from, timeout, ct) => LinesAsync(onError => client.CustomObjects.WatchListClusterCustomObjectAsync(group, version, plural, allowWatchBookmarks: true, resourceVersion: from,
                timeoutSeconds: timeout, onError: onError, cancellationToken: ct), ct),
            logger)
    {
    }

    private CustomResourceInformer(string plural, Func<CancellationToken, Task<JsonNode>> list, Func<string, int, CancellationToken, IAsyncEnumerable<string>> watch, ILogger logger)
    {
        _plural = plural;
        _list = list;
        _watch = watch;
        _logger = logger;
    }

    /// <summary>An informer over the cluster's Namespace objects (the webhook reads their labels).</summary>
    public static CustomResourceInformer ForNamespaces(IKubernetes client, ILogger logger) =>
        new("namespaces",
            async ct => JsonNode.Parse(KubernetesJson.Serialize(await client.CoreV1.ListNamespaceAsync(cancellationToken: ct).ConfigureAwait(false)))!,
            (from, timeout, ct) => LinesAsync(onError => client.CoreV1.WatchListNamespaceAsync(allowWatchBookmarks: true, resourceVersion: from, timeoutSeconds: timeout,
                onError: onError, cancellationToken: ct), ct),
            logger);

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
        var node = await _list(cancellationToken).ConfigureAwait(false);
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
        var current = from;
        await foreach (var line in _watch(from, (int)WatchTimeout.TotalSeconds, cancellationToken).ConfigureAwait(false))
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

    /// <summary>
    /// The watch through the client's watcher (the plain list call with watch=true deserializes, and so consumes, the
    /// body), turned back into the wire's lines; an expired version, which the watcher throws, becomes the ERROR event
    /// a server sends, and a stream the server closed becomes the stream's end.
    /// </summary>
    private static async IAsyncEnumerable<string> LinesAsync<T>(Func<Action<Exception>, IAsyncEnumerable<(WatchEventType Type, T Object)>> watch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The watcher hands some failures (an ERROR event among them) to this callback and then just ends.
        Exception? reported = null;
        var events = watch(e => reported ??= e).GetAsyncEnumerator(cancellationToken);
        await using var _ = events.ConfigureAwait(false);
        while (true)
        {
            string line;
            try
            {
                if (!await events.MoveNextAsync().ConfigureAwait(false))
                {
                    if (reported is null or HttpRequestException or IOException)
                    {
                        yield break;
                    }

                    throw reported;
                }

                var (type, obj) = events.Current;
                line = $"{{\"type\":\"{type.ToString().ToUpperInvariant()}\",\"object\":{KubernetesJson.Serialize(obj)}}}";
            }
            catch (KubernetesException e) when (e.Status?.Code is { } code)
            {
                line = $"{{\"type\":\"ERROR\",\"object\":{{\"code\":{code},\"message\":{JsonSerializer.Serialize(e.Status.Message)}}}}}";
            }
            catch (Exception e) when (e is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
            {
                yield break;
            }

            yield return line;
        }
    }

    private static string Key(JsonObject obj) =>
        $"{obj["metadata"]?["namespace"]}/{obj["metadata"]?["name"]}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "informer for {Plural} failed: {Reason}; retrying in {DelayMs} ms")]
    private static partial void LogFailed(ILogger logger, string plural, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "watch of {Plural} from {Version} expired (410 Gone); listing again")]
    private static partial void LogGone(ILogger logger, string plural, string version);
}
