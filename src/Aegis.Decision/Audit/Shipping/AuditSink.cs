using System.Threading.Channels;

namespace Aegis.Decision.Audit.Shipping;

/// <summary>Lines the log committed together (each ends with '\n'), and when they became durable.</summary>
public sealed record AuditBatch(byte[] Lines, DateTimeOffset CommittedAt)
{
    /// <summary>The lines without their newlines.</summary>
    public IEnumerable<ReadOnlyMemory<byte>> Each()
    {
        var start = 0;
        while (start < Lines.Length)
        {
            var end = Array.IndexOf(Lines, (byte)'\n', start);
            if (end < 0)
            {
                yield return Lines.AsMemory(start);
                yield break;
            }

            yield return Lines.AsMemory(start, end - start);
            start = end + 1;
        }
    }
}

/// <summary>How far a sink is behind.</summary>
public readonly record struct AuditSinkStatus(long Shipped, long Dropped, long Failed, TimeSpan Lag);

/// <summary>Somewhere committed audit lines are copied to (stdout, OTLP). The segment files stay the record.</summary>
public interface IAuditSink : IAsyncDisposable
{
    /// <summary>The sink's name, a metric label: stdout, otlp.</summary>
    string Name { get; }

    /// <summary>Takes a committed batch without blocking; a full queue drops it and counts the drop.</summary>
    void Publish(AuditBatch batch);

    AuditSinkStatus Status { get; }
}

/// <summary>
/// A sink with its own bounded queue and shipping loop, so a slow collector or a blocked stdout never holds up a
/// commit. What it cannot keep up with is dropped and counted (<c>aegis_audit_shipping_dropped_total</c>); lag is
/// the age of the oldest batch not yet shipped (<c>aegis_audit_shipping_lag_seconds</c>).
/// </summary>
public abstract class QueuedAuditSink : IAuditSink
{
    private readonly Channel<AuditBatch> _queue;
    private readonly TimeProvider _time;
    private Task? _loop;
    private readonly CancellationTokenSource _stop = new();
    private long _shipped;
    private long _dropped;
    private long _failed;
    private long _oldestPendingTicks;

    protected QueuedAuditSink(TimeProvider time, int capacity = 4_096)
    {
        _time = time;
        _queue = Channel.CreateBounded<AuditBatch>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    }

    public abstract string Name { get; }

    /// <summary>How long <see cref="DisposeAsync"/> keeps shipping what is queued.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public AuditSinkStatus Status
    {
        get
        {
            var oldest = Interlocked.Read(ref _oldestPendingTicks);
            var lag = oldest == 0 ? TimeSpan.Zero : _time.GetUtcNow() - new DateTimeOffset(oldest, TimeSpan.Zero);
            return new AuditSinkStatus(Interlocked.Read(ref _shipped), Interlocked.Read(ref _dropped), Interlocked.Read(ref _failed), lag < TimeSpan.Zero ? TimeSpan.Zero : lag);
        }
    }

    public void Publish(AuditBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        // The loop starts with the first batch, once the subclass is fully constructed.
        if (Volatile.Read(ref _loop) is null)
        {
            var loop = new Task<Task>(RunAsync);
            if (Interlocked.CompareExchange(ref _loop, loop.Unwrap(), null) is null)
            {
                loop.Start(TaskScheduler.Default);
            }
        }

        Interlocked.CompareExchange(ref _oldestPendingTicks, batch.CommittedAt.UtcTicks, 0);
        if (!_queue.Writer.TryWrite(batch))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Ships one batch; an exception counts as a failed shipment (logged by the subclass), not a crash.</summary>
    protected abstract Task ShipAsync(AuditBatch batch, CancellationToken cancellationToken);

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var batch))
                {
                    try
                    {
                        await ShipAsync(batch, _stop.Token).ConfigureAwait(false);
                        Interlocked.Increment(ref _shipped);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        Interlocked.Increment(ref _failed);
                    }

                    // Lag restarts from the next batch waiting, or drops to zero when caught up.
                    Interlocked.Exchange(ref _oldestPendingTicks, reader.TryPeek(out var next) ? next.CommittedAt.UtcTicks : 0);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped after the drain timeout; what is left stays in the segment files.
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _stop.CancelAfter(DrainTimeout);
        if (Volatile.Read(ref _loop) is { } loop)
        {
            await loop.ConfigureAwait(false);
        }

        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
