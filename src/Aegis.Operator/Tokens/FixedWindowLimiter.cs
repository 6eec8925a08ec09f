using System.Collections.Concurrent;

namespace Aegis.Operator.Tokens;

/// <summary>
/// Counts requests per partition (a key id, a client IP) in fixed windows, in this process's memory: with several
/// operator replicas behind a Service each enforces its own limit, so the effective limit is that times the replicas.
/// </summary>
public sealed class FixedWindowLimiter(int permits, TimeSpan window, TimeProvider time)
{
    // Beyond this many partitions, expired windows are swept so a flood of distinct IPs cannot grow memory unbounded.
    private const int SweepAbove = 10_000;
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);

    /// <summary>Takes one permit; when none is left, says how long until the window resets.</summary>
    public bool TryAcquire(string partition, out TimeSpan retryAfter)
    {
        var now = time.GetUtcNow();
        if (_windows.Count > SweepAbove)
        {
            foreach (var (key, w) in _windows)
            {
                if (now - w.Start >= window)
                {
                    _windows.TryRemove(key, out _);
                }
            }
        }

        var current = _windows.AddOrUpdate(partition, _ => new Window(now, 1), (_, w) => now - w.Start >= window ? new Window(now, 1) : w with { Count = w.Count + 1 });
        retryAfter = current.Start + window - now;
        return current.Count <= permits;
    }

    private sealed record Window(DateTimeOffset Start, int Count);
}
