using System.Threading.Channels;

namespace Aegis.Decision.Audit.Archive;

/// <summary>Where the uploader stands, for /metrics.</summary>
public readonly record struct AuditArchiveStatus(int Pending, TimeSpan OldestPending, long Uploaded, long Failures, long Conflicts);

/// <summary>
/// Uploads each closed segment of one replica to write-once storage, retained for <see cref="Retention"/>, retrying
/// with backoff until the store takes it. A segment already there with the same bytes counts as uploaded; one with
/// other bytes is a conflict that is logged and never overwritten. Uploaded segments get a <c>.uploaded</c> marker
/// beside them; only the newest <see cref="KeepUploaded"/> of those stay on the local disk.
/// </summary>
public sealed partial class AuditArchiveUploader : IAsyncDisposable
{
    private readonly IAuditArchive _archive;
    private readonly string _replica;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, DateTimeOffset> _pending = new(StringComparer.Ordinal);
    private readonly Lock _pendingLock = new();
    private Task? _loop;
    private long _uploaded;
    private long _failures;
    private long _conflicts;

    public AuditArchiveUploader(IAuditArchive archive, string replica, TimeSpan retention, TimeProvider time, ILogger<AuditArchiveUploader> logger)
    {
        _archive = archive;
        _replica = replica;
        _time = time;
        _logger = logger;
        Retention = retention;
    }

    /// <summary>How long each uploaded segment is locked against deletion.</summary>
    public TimeSpan Retention { get; }

    /// <summary>Uploaded segments kept on the local disk (newest first); older ones are deleted there.</summary>
    public int KeepUploaded { get; init; } = 16;

    /// <summary>How long <see cref="DisposeAsync"/> keeps trying to upload what is left (the segment closed at shutdown).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The first retry delay; it doubles up to a minute.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public string Location => _archive.Location;

    public AuditArchiveStatus Status
    {
        get
        {
            lock (_pendingLock)
            {
                var oldest = _pending.Count == 0 ? TimeSpan.Zero : _time.GetUtcNow() - _pending.Values.Min();
                return new AuditArchiveStatus(_pending.Count, oldest, Interlocked.Read(ref _uploaded), Interlocked.Read(ref _failures), Interlocked.Read(ref _conflicts));
            }
        }
    }

    /// <summary>Queues every closed segment in <paramref name="directory"/> not yet uploaded (all but <paramref name="active"/>), then starts.</summary>
    public void Start(string directory, string active)
    {
        foreach (var (_, path) in AuditSegmentFile.List(directory, _replica))
        {
            if (path != active && !File.Exists(path + ".uploaded"))
            {
                Enqueue(path);
            }
        }

        _loop = Task.Run(RunAsync);
    }

    /// <summary>Queues a closed segment (the log's <see cref="AuditLogOptions.SegmentClosed"/>).</summary>
    public void Enqueue(string path)
    {
        lock (_pendingLock)
        {
            _pending.TryAdd(path, _time.GetUtcNow());
        }

        _queue.Writer.TryWrite(path);
    }

    private async Task RunAsync()
    {
        try
        {
            await foreach (var path in _queue.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                var delay = RetryDelay;
                while (!await TryUploadAsync(path).ConfigureAwait(false))
                {
                    await Task.Delay(delay, _time, _stop.Token).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMinutes(1).Ticks));
                }

                lock (_pendingLock)
                {
                    _pending.Remove(path);
                }

                Prune(path);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped: what is left stays on disk with no marker and is queued again at the next start.
        }
    }

    /// <summary>True when the segment is in the store (now or already); false to retry later.</summary>
    private async Task<bool> TryUploadAsync(string path)
    {
        var key = _archive.KeyFor(_replica, Path.GetFileName(path));
        try
        {
            var content = await File.ReadAllBytesAsync(path, _stop.Token).ConfigureAwait(false);
            if (!await _archive.PutOnceAsync(key, content, _time.GetUtcNow() + Retention, _stop.Token).ConfigureAwait(false))
            {
                var stored = await _archive.GetAsync(key, _stop.Token).ConfigureAwait(false);
                if (stored is null || !stored.AsSpan().SequenceEqual(content))
                {
                    // Never overwrite what is in the store: a person must look at both copies.
                    Interlocked.Increment(ref _conflicts);
                    LogConflict(_logger, key, path);
                    return true;
                }
            }

            await File.WriteAllTextAsync(path + ".uploaded", key + "\n", _stop.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _uploaded);
            LogUploaded(_logger, path, key);
            return true;
        }
        catch (Exception e) when (e is AuditArchiveException or IOException or HttpRequestException or UnauthorizedAccessException or Amazon.Runtime.AmazonClientException)
        {
            Interlocked.Increment(ref _failures);
            LogUploadFailed(_logger, path, e.Message);
            return false;
        }
    }

    private void Prune(string uploaded)
    {
        var directory = Path.GetDirectoryName(uploaded)!;
        var done = AuditSegmentFile.List(directory, _replica).Where(s => File.Exists(s.Path + ".uploaded")).ToList();
        foreach (var (_, path) in done.Take(Math.Max(0, done.Count - KeepUploaded)))
        {
            try
            {
                File.Delete(path);
                File.Delete(path + ".uploaded");
            }
            catch (IOException e)
            {
                LogUploadFailed(_logger, path, "could not delete the local copy: " + e.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _stop.CancelAfter(DrainTimeout);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "audit segment {Path} archived as {Key}")]
    private static partial void LogUploaded(ILogger logger, string path, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit segment {Path} not archived yet: {Reason}; retrying")]
    private static partial void LogUploadFailed(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "audit archive already holds {Key} with other bytes than {Path}; neither is changed")]
    private static partial void LogConflict(ILogger logger, string key, string path);
}
