namespace Aegis.Operator.Controllers;

/// <summary>
/// A work queue in the manner of client-go's (ported as YARP's Kubernetes controller does): a key waiting in the
/// queue is not added twice, a key being processed is not handed out again until <see cref="Done"/> (a key added
/// meanwhile is queued again then), and failed keys come back with per-key exponential backoff.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "WorkQueue is the client-go / controller-runtime name this type ports.")]
public sealed class WorkQueue<T> : IDisposable
    where T : notnull
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<DelayedAdd, byte> _delayed = new();
    private readonly Queue<T> _queue = new();
    private readonly HashSet<T> _dirty = [];
    private readonly HashSet<T> _processing = [];
    private readonly Dictionary<T, int> _failures = [];
    private readonly SemaphoreSlim _available = new(0);
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;
    private bool _shutDown;

    public WorkQueue(TimeProvider? time = null, TimeSpan? baseDelay = null, TimeSpan? maxDelay = null)
    {
        _time = time ?? TimeProvider.System;
        _baseDelay = baseDelay ?? TimeSpan.FromMilliseconds(5);
        _maxDelay = maxDelay ?? TimeSpan.FromMinutes(5);
    }

    /// <summary>Keys waiting (not counting those being processed).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Queues <paramref name="key"/> unless it is already waiting.</summary>
    public void Add(T key)
    {
        // Release happens under the lock, so it can never race Dispose (delayed adds fire on timer threads).
        lock (_lock)
        {
            if (_shutDown || !_dirty.Add(key))
            {
                return;
            }

            if (_processing.Contains(key))
            {
                // Picked up again by Done, so one key never runs twice at once.
                return;
            }

            _queue.Enqueue(key);
            _available.Release();
        }
    }

    /// <summary>Queues <paramref name="key"/> after <paramref name="delay"/> (a "requeue after" for polling).</summary>
    public void AddAfter(T key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        // The pending timer is held here until it fires, so it can neither be collected early nor leak.
        var pending = new DelayedAdd(this, key);
        _delayed[pending] = 0;
        pending.Start(_time, delay);
    }

    /// <summary>Queues a key that failed, after base × 2^failures (capped); returns the delay used.</summary>
    public TimeSpan AddRateLimited(T key)
    {
        int failures;
        lock (_lock)
        {
            failures = _failures.TryGetValue(key, out var n) ? n : 0;
            _failures[key] = failures + 1;
        }

        var delay = TimeSpan.FromTicks((long)Math.Min(_maxDelay.Ticks, _baseDelay.Ticks * Math.Pow(2, Math.Min(failures, 40))));
        AddAfter(key, delay);
        return delay;
    }

    /// <summary>Forgets a key's failures (after it succeeded).</summary>
    public void Forget(T key)
    {
        lock (_lock)
        {
            _failures.Remove(key);
        }
    }

    /// <summary>Waits for the next key; returns false when the queue was shut down.</summary>
    public async Task<(bool Ok, T Key)> TryGetAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (_shutDown && _queue.Count == 0)
                {
                    _available.Release();
                    return (false, default!);
                }

                if (_queue.TryDequeue(out var key))
                {
                    _dirty.Remove(key);
                    _processing.Add(key);
                    return (true, key);
                }
            }
        }
    }

    /// <summary>Marks <paramref name="key"/> processed; queues it again if it was added meanwhile.</summary>
    public void Done(T key)
    {
        lock (_lock)
        {
            _processing.Remove(key);
            if (_dirty.Contains(key) && !_shutDown)
            {
                _queue.Enqueue(key);
                _available.Release();
            }
        }
    }

    /// <summary>Stops handing out keys once the queue is drained; waiting callers return false.</summary>
    public void ShutDown()
    {
        lock (_lock)
        {
            if (!_shutDown)
            {
                _shutDown = true;
                _available.Release();
            }
        }
    }

    public void Dispose()
    {
        foreach (var pending in _delayed.Keys)
        {
            pending.Dispose();
        }

        lock (_lock)
        {
            _shutDown = true;
            _available.Dispose();
        }
    }

    private sealed class DelayedAdd(WorkQueue<T> queue, T key) : IDisposable
    {
        private ITimer? _timer;

        public void Start(TimeProvider time, TimeSpan delay) =>
            _timer = time.CreateTimer(static state => ((DelayedAdd)state!).Fire(), this, delay, Timeout.InfiniteTimeSpan);

        public void Dispose() => _timer?.Dispose();

        private void Fire()
        {
            queue._delayed.TryRemove(this, out _);
            Dispose();
            queue.Add(key);
        }
    }
}
