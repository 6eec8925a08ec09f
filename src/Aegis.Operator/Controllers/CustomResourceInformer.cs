using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;

namespace Aegis.Operator.Controllers;

/// <summary>A change the informer saw: the object before (null when added) and after (null when deleted).</summary>
public sealed record ResourceChange(string Plural, JsonObject? Old, JsonObject? New);

/// <summary>
/// Keeps a cache of one custom resource across all namespaces, in the manner of client-go's informer: list,
/// then watch from the list's resourceVersion with bookmarks; re-watch from the last version when the server
/// ends the stream; re-list after 410 Gone; <c>timeoutSeconds</c> against dead connections; backoff on errors.
/// Objects are kept as the API server's JSON, which the loader reads directly.
/// </summary>
public sealed partial class CustomResourceInformer(IKubernetes client, string group, string version, string plural, ILogger logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, JsonObject> _cache = new(StringComparer.Ordinal);
    private volatile bool _synced;

    public string Plural => plural;

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
                LogFailed(logger, plural, e.Message, backoff.TotalMilliseconds);
                await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
            }
        }
    }

    private async Task<string> ListAsync(CancellationToken cancellationToken)
    {
        var list = (JsonElement)await client.CustomObjects.ListClusterCustomObjectAsync(group, version, plural, cancellationToken: cancellationToken).ConfigureAwait(false);
        var node = JsonNode.Parse(list.GetRawText())!;
        var fresh = node["items"]!.AsArray().Select(i => i!.AsObject()).ToDictionary(Key, StringComparer.Ordinal);
        var changes = new List<ResourceChange>();
        lock (_lock)
        {
            foreach (var (key, obj) in fresh)
            {
                _cache.TryGetValue(key, out var old);
                if (old is null || !JsonNode.DeepEquals(old, obj))
                {
                    changes.Add(new ResourceChange(plural, old, obj));
                }
            }

            foreach (var (key, old) in _cache.Where(c => !fresh.ContainsKey(c.Key)))
            {
                changes.Add(new ResourceChange(plural, old, null));
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
        using var response = await client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(
            group, version, plural, allowWatchBookmarks: true, resourceVersion: from,
            timeoutSeconds: (int)WatchTimeout.TotalSeconds, watch: true, cancellationToken: cancellationToken).ConfigureAwait(false);
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
                    LogGone(logger, plural, current);
                    return null;
                }

                throw new InvalidOperationException($"watch of {plural} failed: {obj["message"]}");
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
                    change = new ResourceChange(plural, old ?? obj, null);
                }
                else
                {
                    _cache[key] = obj;
                    change = new ResourceChange(plural, old, obj);
                }
            }

            Changed?.Invoke(change);
        }

        // The server ended the stream (its timeout, or a restart): watch again from where we are.
        return current;
    }

    private static string Key(JsonObject obj) =>
        $"{obj["metadata"]?["namespace"]}/{obj["metadata"]?["name"]}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "informer for {Plural} failed: {Reason}; retrying in {DelayMs} ms")]
    private static partial void LogFailed(ILogger logger, string plural, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "watch of {Plural} from {Version} expired (410 Gone); listing again")]
    private static partial void LogGone(ILogger logger, string plural, string version);
}
