using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Aegis.Decision.Audit.Shipping;
using Aegis.Policy.Audit;

namespace Aegis.Decision.Audit;

/// <summary>Thrown when the audit log cannot take or commit a record; the decision becomes a denial (audit_unavailable).</summary>
public sealed class AuditUnavailableException(string message) : Exception(message);

/// <summary>Counters of one audit log, for /metrics.</summary>
public readonly record struct AuditLogStatus(long Records, long Commits, TimeSpan CommitTime, long Checkpoints, long CheckpointFailures, long Segment, bool Failed);

/// <summary>
/// The hash-chained audit log of one replica (<see cref="AuditChain"/>), with group commit: <see cref="AppendAsync"/>
/// completes only once its record is written and fsynced, so no decision is answered before its record is durable.
/// One writer task owns the files; callers never take a lock, they queue and wait for their batch's fsync
/// (<see cref="AuditLogOptions"/> says how long a batch may gather). Checkpoints are signed off the commit path;
/// segments rotate by size and age; a torn tail left by a crash is cut at open and the cut recorded in the chain.
/// </summary>
public sealed partial class AuditLog : IAsyncDisposable
{
    private readonly AuditLogOptions _options;
    private readonly Channel<Pending> _queue;
    private readonly ILogger _logger;
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private readonly Utf8JsonWriter _json;
    private readonly AuditSegmentFile _file;
    private readonly Thread _writer;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Pending> _batch;
    private AuditChainState _chain;
    private TaskCompletionSource _batchFull = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _queued;
    private volatile Exception? _failure;

    // Checkpoint in the making: the draft's fields are fixed when signing starts; the line is written when it ends.
    private AuditCheckpoint? _draft;
    private Task<string>? _signing;
    private long _sinceCheckpoint;
    private DateTimeOffset _lastCheckpointAt;

    private long _records;
    private long _commits;
    private long _commitTicks;
    private long _checkpoints;
    private long _checkpointFailures;

    private AuditLog(AuditLogOptions options, AuditSegmentFile file, AuditChainState chain, AuditTornTail? torn, ILogger logger)
    {
        _options = options;
        _file = file;
        _chain = chain;
        _logger = logger;
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });
        _batch = new List<Pending>(options.CommitMaxRecords);
        _lastCheckpointAt = options.Time.GetUtcNow();
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
        if (file.IsEmpty)
        {
            WriteRaw(AuditChain.SegmentHeader(_chain.Seq + 1, _chain.Prev, options.Replica, file.Number, _chain.Records, _chain.PreviousCovers, options.Time.GetUtcNow()));
        }

        if (torn is not null)
        {
            LogRepaired(_logger, torn.Cut.Length, file.Path, torn.Offset);
            WriteRaw(AuditChain.Repair(_chain.Seq + 1, _chain.Prev, file.Number, torn.Offset, torn.Cut, torn.Reason, options.Time.GetUtcNow()));
            _chain.Records++;
        }

        if (_buffer.WrittenCount > 0)
        {
            _file.Write(_buffer.WrittenSpan);
            _file.Sync();
            Publish(options.Time.GetUtcNow());
        }

        // A thread of its own: it blocks in write() and fsync() and must wake at once when records arrive, which a
        // thread-pool continuation does not when the pool is busy answering the very calls that wait on it.
        _writer = new Thread(Run) { IsBackground = true, Name = "aegis-audit-writer" };
        _writer.Start();
    }

    /// <summary>The segment being appended to.</summary>
    public string ActiveSegment => _file.Path;

    public AuditLogStatus Status => new(
        Interlocked.Read(ref _records), Interlocked.Read(ref _commits), TimeSpan.FromTicks(Interlocked.Read(ref _commitTicks)),
        Interlocked.Read(ref _checkpoints), Interlocked.Read(ref _checkpointFailures), _file.Number, _failure is not null);

    public IReadOnlyList<IAuditSink> Sinks => _options.Sinks;

    /// <summary>
    /// Opens (or continues) the replica's chain in <see cref="AuditLogOptions.Directory"/>: cuts a torn tail and records
    /// the repair, or starts the next segment when the last one was closed. Throws <see cref="ArgumentException"/>
    /// naming every bad option, or an IOException when the folder cannot be used.
    /// </summary>
    public static AuditLog Open(AuditLogOptions options, ILogger<AuditLog> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { Count: > 0 } errors)
        {
            throw new ArgumentException("audit log options: " + string.Join("; ", errors), nameof(options));
        }

        var file = AuditSegmentFile.Open(options.Directory, options.Replica, options.Time.GetUtcNow(), out var chain, out var torn);
        return new AuditLog(options, file, chain, torn, logger);
    }

    /// <summary>Appends a decision record; completes when it is durable. Throws <see cref="AuditUnavailableException"/> when it cannot be.</summary>
    public ValueTask AppendAsync(AuditEntry record, CancellationToken cancellationToken = default) => AppendCoreAsync(record, cancellationToken);

    /// <summary>Appends "decision X settled at cost Y" once a call's real cost is known; completes when it is durable.</summary>
    public ValueTask AppendSettlementAsync(AuditSettlement settlement, CancellationToken cancellationToken = default) => AppendCoreAsync(settlement, cancellationToken);

    private async ValueTask AppendCoreAsync(IAuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_failure is { } failed)
        {
            throw new AuditUnavailableException("the audit log stopped after a write failure: " + failed.Message);
        }

        var pending = new Pending(record);
        if (!_queue.Writer.TryWrite(pending))
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(_options.EnqueueDeadline);
            try
            {
                await _queue.Writer.WriteAsync(pending, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new AuditUnavailableException($"the audit log did not accept a record within {_options.EnqueueDeadline.TotalMilliseconds} ms");
            }
            catch (ChannelClosedException)
            {
                throw new AuditUnavailableException("the audit log is closed");
            }
        }

        if (Interlocked.Increment(ref _queued) >= _options.CommitMaxRecords)
        {
            Volatile.Read(ref _batchFull).TrySetResult();
        }

        await pending.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Run()
    {
        try
        {
            while (WaitForWork())
            {
                Drain();
                if (_batch.Count > 0 && _batch.Count < _options.CommitMaxRecords && _options.CommitWindow > TimeSpan.Zero)
                {
                    Gather();
                    Drain();
                }

                Commit();
                RotateIfDue();
            }

            CloseSegment();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Fail closed: every waiting and future append is refused; decisions are denied with audit_unavailable.
            _failure = e;
            LogWriteFailed(_logger, e.Message);
            var refusal = new AuditUnavailableException("the audit log could not write: " + e.Message);
            foreach (var pending in _batch)
            {
                pending.Done.TrySetException(refusal);
            }

            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var pending))
            {
                pending.Done.TrySetException(refusal);
            }
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Waits for records, a finished checkpoint signature, or a checkpoint falling due; false once closed and drained.</summary>
    private bool WaitForWork()
    {
        while (true)
        {
            if (_queue.Reader.TryPeek(out _) || _signing is { IsCompleted: true })
            {
                return true;
            }

            if (_queue.Reader.Completion.IsCompleted)
            {
                return false;
            }

            var due = CheckpointDueIn();
            if (due == TimeSpan.Zero)
            {
                StartCheckpoint();
                continue;
            }

            var read = _queue.Reader.WaitToReadAsync().AsTask();
            var timer = due is { } d ? Task.Delay(d, _options.Time) : Task.Delay(Timeout.InfiniteTimeSpan, _options.Time);
            Task.WaitAny(read, timer, _signing ?? timer);
            if (read.IsCompletedSuccessfully && !read.Result && _signing is null)
            {
                return false;
            }
        }
    }

    /// <summary>Zero when a checkpoint is due now, the time until it is when records wait unsigned, null otherwise.</summary>
    private TimeSpan? CheckpointDueIn()
    {
        if (_signing is not null || _sinceCheckpoint == 0)
        {
            return null;
        }

        if (_sinceCheckpoint >= _options.CheckpointEvery)
        {
            return TimeSpan.Zero;
        }

        var left = _lastCheckpointAt + _options.CheckpointInterval - _options.Time.GetUtcNow();
        return left <= TimeSpan.Zero ? TimeSpan.Zero : left;
    }

    private void Drain()
    {
        while (_batch.Count < _options.CommitMaxRecords && _queue.Reader.TryRead(out var pending))
        {
            Interlocked.Decrement(ref _queued);
            _batch.Add(pending);
        }
    }

    /// <summary>The commit window: wait until it ends or enough records are waiting to fill the batch.</summary>
    private void Gather()
    {
        var full = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _batchFull, full);
        if (_batch.Count + Volatile.Read(ref _queued) >= _options.CommitMaxRecords)
        {
            return;
        }

        using var window = new CancellationTokenSource();
        var delay = Task.Delay(_options.CommitWindow, _options.Time, window.Token);
        if (Task.WaitAny(delay, full.Task) != 0)
        {
            window.Cancel();
        }
    }

    /// <summary>Writes the batch (and a finished checkpoint) with one write, fsyncs once, then releases the callers.</summary>
    private void Commit()
    {
        var started = Stopwatch.GetTimestamp();
        WriteFinishedCheckpoint();
        foreach (var pending in _batch)
        {
            WriteRecord(pending.Record);
        }

        if (_buffer.WrittenCount == 0)
        {
            return;
        }

        _file.Write(_buffer.WrittenSpan);
        _file.Sync();
        var committedAt = _options.Time.GetUtcNow();
        foreach (var pending in _batch)
        {
            pending.Done.TrySetResult();
        }

        Interlocked.Add(ref _records, _batch.Count);
        Interlocked.Increment(ref _commits);
        Interlocked.Add(ref _commitTicks, Stopwatch.GetElapsedTime(started).Ticks);
        _sinceCheckpoint += _batch.Count;
        _batch.Clear();
        Publish(committedAt);
    }

    private void Publish(DateTimeOffset committedAt)
    {
        if (_options.Sinks.Count > 0)
        {
            var batch = new AuditBatch(_buffer.WrittenSpan.ToArray(), committedAt);
            foreach (var sink in _options.Sinks)
            {
                sink.Publish(batch);
            }
        }

        _buffer.ResetWrittenCount();
    }

    private void WriteRecord(IAuditRecord record)
    {
        var start = _buffer.WrittenCount;
        _json.Reset(_buffer);
        _json.WriteStartObject();
        _json.WriteNumber("seq", _chain.Seq + 1);
        _json.WriteString("prev", _chain.Prev);
        _json.WriteString("type", record.Type);
        record.WriteFields(_json);
        _json.WriteEndObject();
        _json.Flush();
        Advance(start);
        _chain.Records++;
    }

    /// <summary>Adds a line built elsewhere (header, repair, checkpoint) to the buffer.</summary>
    private void WriteRaw(byte[] line)
    {
        var start = _buffer.WrittenCount;
        _buffer.Write(line);
        Advance(start);
    }

    private void Advance(int start)
    {
        _chain.Seq++;
        _chain.Prev = AuditChain.Hash(_buffer.WrittenSpan[start..]);
        _buffer.Write("\n"u8);
    }

    private void StartCheckpoint()
    {
        var draft = Draft(closed: false);
        _draft = draft;
        _signing = draft.SignAsync(_options.Signer);
        _sinceCheckpoint = 0;
        _lastCheckpointAt = draft.Time;
    }

    private AuditCheckpoint Draft(bool closed) => new()
    {
        Replica = _options.Replica,
        Segment = _file.Number,
        Covers = _chain.Seq,
        Head = _chain.Prev,
        Count = _chain.Records,
        Previous = _chain.PreviousCovers,
        Closed = closed,
        Time = _options.Time.GetUtcNow(),
    };

    private void WriteFinishedCheckpoint()
    {
        if (_signing is not { IsCompleted: true } signing)
        {
            return;
        }

        _signing = null;
        if (signing.IsCompletedSuccessfully)
        {
            WriteRaw(_draft!.Line(_chain.Seq + 1, _chain.Prev, signing.Result));
            _chain.PreviousCovers = _draft.Covers;
            Interlocked.Increment(ref _checkpoints);
        }
        else
        {
            // The records stay chained; the next checkpoint signs them. A KMS outage never stops decisions.
            Interlocked.Increment(ref _checkpointFailures);
            LogCheckpointFailed(_logger, signing.Exception?.GetBaseException().Message ?? "cancelled");
            _sinceCheckpoint = Math.Max(_sinceCheckpoint, 1);
        }

        _draft = null;
    }

    private void RotateIfDue()
    {
        if (_file.Size >= _options.SegmentMaxBytes || _options.Time.GetUtcNow() - _file.OpenedAt >= _options.SegmentMaxAge)
        {
            if (WriteClosingCheckpoint())
            {
                var closed = _file.SealAndStart(_file.Number + 1, _options.Time.GetUtcNow());
                WriteRaw(AuditChain.SegmentHeader(_chain.Seq + 1, _chain.Prev, _options.Replica, _file.Number, _chain.Records, _chain.PreviousCovers, _options.Time.GetUtcNow()));
                _file.Write(_buffer.WrittenSpan);
                _file.Sync();
                Publish(_options.Time.GetUtcNow());
                LogRotated(_logger, closed, _file.Path);
                _options.SegmentClosed?.Invoke(closed);
            }
        }
    }

    /// <summary>Signs everything so far as the segment's last line; false (the segment stays open) when signing fails.</summary>
    private bool WriteClosingCheckpoint()
    {
        if (_signing is { } inFlight)
        {
            Task.WaitAny(inFlight);
            WriteFinishedCheckpoint();
        }

        var draft = Draft(closed: true);
        try
        {
            var jws = draft.SignAsync(_options.Signer).GetAwaiter().GetResult();
            WriteRaw(draft.Line(_chain.Seq + 1, _chain.Prev, jws));
            _chain.PreviousCovers = draft.Covers;
            Interlocked.Increment(ref _checkpoints);
        }
        catch (Exception e) when (e is not IOException)
        {
            Interlocked.Increment(ref _checkpointFailures);
            LogCheckpointFailed(_logger, e.Message);
            if (_buffer.WrittenCount > 0)
            {
                _file.Write(_buffer.WrittenSpan);
                _file.Sync();
                Publish(_options.Time.GetUtcNow());
            }

            return false;
        }

        _file.Write(_buffer.WrittenSpan);
        _file.Sync();
        Publish(_options.Time.GetUtcNow());
        _sinceCheckpoint = 0;
        return true;
    }

    /// <summary>At shutdown: the last segment gets its closing checkpoint, so nothing after it can be cut unnoticed.</summary>
    private void CloseSegment()
    {
        if (WriteClosingCheckpoint())
        {
            var closed = _file.Seal();
            _options.SegmentClosed?.Invoke(closed);
        }
        else
        {
            _file.Dispose();
        }
    }

    /// <summary>Commits what is queued, closes the segment with a signed checkpoint and stops the sinks.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopped.Task.ConfigureAwait(false);
        await _json.DisposeAsync().ConfigureAwait(false);
        foreach (var sink in _options.Sinks)
        {
            await sink.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Pending(IAuditRecord record)
    {
        public IAuditRecord Record { get; } = record;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "audit log writer failed: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit checkpoint not signed: {Reason}; the records stay chained and the next checkpoint signs them")]
    private static partial void LogCheckpointFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit log repaired: cut {Bytes} bytes of an incomplete tail from {Path} at offset {Offset}; the repair is recorded in the chain")]
    private static partial void LogRepaired(ILogger logger, int bytes, string path, long offset);

    [LoggerMessage(Level = LogLevel.Information, Message = "audit segment {Closed} closed; writing {Next}")]
    private static partial void LogRotated(ILogger logger, string closed, string next);
}
