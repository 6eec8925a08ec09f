using k8s;

namespace Aegis.Operator.Caching;

/// <summary>A change the informer saw: copies of the object before (null when added) and after (null when deleted).</summary>
public sealed record ResourceChange<T>(T? Old, T? New)
    where T : class;

/// <summary>What <see cref="InformerCache"/> runs and waits on, whatever the kind.</summary>
public interface IResourceInformer
{
    string Plural { get; }

    /// <summary>Completes once the first list has filled the cache.</summary>
    Task Synced { get; }

    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A typed cache of one kind, in the manner of client-go's informer (ported as YARP's <c>ResourceInformer&lt;T&gt;</c>):
/// list, then watch from the list's resourceVersion with bookmarks; re-watch from the last version when the server
/// ends the stream; list again after 410 Gone; <c>timeoutSeconds</c> against dead connections; backoff on errors.
/// Objects come typed from the client and are kept as they came; every reader gets a deep copy. Indexes (client-go's
/// Indexers) map each object to values such as its tenant or namespace.
/// </summary>
public sealed partial class ResourceInformer<T> : IResourceInformer
    where T : class
{
    private readonly ResourceKind<T> _kind;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, T> _objects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _readErrors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Func<T, IEnumerable<string>>> _indexers = new(StringComparer.Ordinal);

    // index name → index value → object keys.
    private readonly Dictionary<string, Dictionary<string, HashSet<string>>> _indexes = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ResourceInformer(ResourceKind<T> kind, TimeProvider time, ILogger logger)
    {
        _kind = kind;
        _time = time;
        _logger = logger;
    }

    public string Plural => _kind.Plural;

    public Task Synced => _synced.Task;

    public bool HasSynced => _synced.Task.IsCompleted;

    /// <summary>Asked of the server so a silently dead connection ends and is re-established.</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Raised for every change, on the informer's task, with copies of the objects.</summary>
    public event Action<ResourceChange<T>>? Changed;

    /// <summary>Adds an index (before the informer runs): <paramref name="values"/> says under which values an object is found.</summary>
    public void AddIndex(string name, Func<T, IEnumerable<string>> values)
    {
        lock (_lock)
        {
            _indexers.Add(name, values);
            _indexes[name] = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            foreach (var (key, obj) in _objects)
            {
                AddToIndex(name, values, key, obj);
            }
        }
    }

    /// <summary>A copy of the cached object <paramref name="name"/> (in <paramref name="ns"/>; null for cluster-scoped kinds), or null.</summary>
    public T? Get(string? ns, string name)
    {
        lock (_lock)
        {
            return _objects.TryGetValue(Key(ns, name), out var found) ? ResourceCopier.Copy(found) : null;
        }
    }

    /// <summary>Why the cached object <paramref name="name"/> could not be read into the model (it is cached with its metadata only), or null.</summary>
    public string? ReadError(string? ns, string name)
    {
        lock (_lock)
        {
            return _readErrors.GetValueOrDefault(Key(ns, name));
        }
    }

    /// <summary>Copies of every cached object.</summary>
    public IReadOnlyList<T> List()
    {
        lock (_lock)
        {
            return [.. _objects.Values.Select(ResourceCopier.Copy)];
        }
    }

    /// <summary>Copies of the objects whose index <paramref name="index"/> has the value <paramref name="value"/>.</summary>
    public IReadOnlyList<T> ByIndex(string index, string value)
    {
        lock (_lock)
        {
            return _indexes[index].TryGetValue(value, out var keys) ? [.. keys.Order(StringComparer.Ordinal).Select(k => ResourceCopier.Copy(_objects[k]))] : [];
        }
    }

    /// <summary>Every value index <paramref name="index"/> has objects under.</summary>
    public IReadOnlyList<string> IndexValues(string index)
    {
        lock (_lock)
        {
            return [.. _indexes[index].Keys];
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
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogFailed(_logger, _kind.Plural, e.Message, backoff.TotalMilliseconds);
                try
                {
                    await Task.Delay(backoff, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
            }
        }
    }

    private async Task<string> ListAsync(CancellationToken cancellationToken)
    {
        var listing = await _kind.List(cancellationToken).ConfigureAwait(false);
        var fresh = new Dictionary<string, (T Object, string? Error)>(StringComparer.Ordinal);
        foreach (var item in listing.Items)
        {
            var obj = _kind.Transform(item.Value);
            fresh[KeyOf(obj)] = (obj, item.Error);
        }

        var changes = new List<ResourceChange<T>>();
        lock (_lock)
        {
            foreach (var (key, (obj, _)) in fresh)
            {
                _objects.TryGetValue(key, out var old);
                if (old is null || VersionOf(old) != VersionOf(obj))
                {
                    changes.Add(Change(old, obj));
                }
            }

            foreach (var (key, old) in _objects.Where(c => !fresh.ContainsKey(c.Key)).ToList())
            {
                changes.Add(Change(old, null));
                Remove(key);
            }

            foreach (var (key, (obj, error)) in fresh)
            {
                Put(key, obj, error);
            }
        }

        _synced.TrySetResult();
        foreach (var change in changes)
        {
            Changed?.Invoke(change);
        }

        return listing.ResourceVersion;
    }

    /// <summary>Watches from <paramref name="from"/>; returns the version to continue from, or null to list again.</summary>
    private async Task<string?> WatchAsync(string from, CancellationToken cancellationToken)
    {
        var current = from;

        // The watcher hands some failures (an ERROR event among them) to this callback and then just ends.
        Exception? reported = null;
        var events = _kind.Watch(from, (int)WatchTimeout.TotalSeconds, e => reported ??= e, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using var _ = events.ConfigureAwait(false);
        while (true)
        {
            try
            {
                if (!await events.MoveNextAsync().ConfigureAwait(false))
                {
                    break;
                }
            }
            catch (Exception e) when (WatchErrors.IsGone(e))
            {
                LogGone(_logger, _kind.Plural, current);
                return null;
            }
            catch (Exception e) when (e is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
            {
                // The connection dropped: watch again from where we are.
                return current;
            }

            var (type, item) = events.Current;
            var obj = _kind.Transform(item.Value);
            current = VersionOf(obj) ?? current;
            if (type == WatchEventType.Bookmark)
            {
                continue;
            }

            ResourceChange<T> change;
            lock (_lock)
            {
                var key = KeyOf(obj);
                _objects.TryGetValue(key, out var old);
                if (type == WatchEventType.Deleted)
                {
                    change = Change(old ?? obj, null);
                    Remove(key);
                }
                else
                {
                    change = Change(old, obj);
                    Put(key, obj, item.Error);
                }
            }

            Changed?.Invoke(change);
        }

        if (reported is not null && WatchErrors.IsGone(reported))
        {
            LogGone(_logger, _kind.Plural, current);
            return null;
        }

        if (reported is not null and not (HttpRequestException or IOException))
        {
            throw reported;
        }

        // The server ended the stream (its timeout, or a restart): watch again from where we are.
        return current;
    }

    private ResourceChange<T> Change(T? old, T? now) =>
        Changed is null ? new ResourceChange<T>(null, null) : new ResourceChange<T>(old is null ? null : ResourceCopier.Copy(old), now is null ? null : ResourceCopier.Copy(now));

    private void Put(string key, T obj, string? error)
    {
        Remove(key);
        _objects[key] = obj;
        if (error is not null)
        {
            _readErrors[key] = error;
        }

        foreach (var (name, values) in _indexers)
        {
            AddToIndex(name, values, key, obj);
        }
    }

    private void Remove(string key)
    {
        _readErrors.Remove(key);
        if (!_objects.Remove(key, out var old))
        {
            return;
        }

        foreach (var (name, values) in _indexers)
        {
            var index = _indexes[name];
            foreach (var value in values(old))
            {
                if (index.TryGetValue(value, out var keys) && keys.Remove(key) && keys.Count == 0)
                {
                    index.Remove(value);
                }
            }
        }
    }

    private void AddToIndex(string name, Func<T, IEnumerable<string>> values, string key, T obj)
    {
        var index = _indexes[name];
        foreach (var value in values(obj))
        {
            if (!index.TryGetValue(value, out var keys))
            {
                index[value] = keys = new HashSet<string>(StringComparer.Ordinal);
            }

            keys.Add(key);
        }
    }

    private string KeyOf(T obj)
    {
        var (ns, name, _) = _kind.Identity(obj);
        return Key(ns, name);
    }

    private string? VersionOf(T obj) => _kind.Identity(obj).ResourceVersion;

    private static string Key(string? ns, string name) => $"{ns}/{name}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "informer for {Plural} failed: {Reason}; retrying in {DelayMs} ms")]
    private static partial void LogFailed(ILogger logger, string plural, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "watch of {Plural} from {Version} expired (410 Gone); listing again")]
    private static partial void LogGone(ILogger logger, string plural, string version);
}
