using System.Threading.Channels;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;

namespace Aegis.Decision.Audit;

/// <summary>Thrown when the audit log cannot take a record in time; the decision becomes a denial (audit_unavailable).</summary>
public sealed class AuditUnavailableException(string message) : Exception(message);

/// <summary>
/// Appends decision records to a hash-chained log (<see cref="AuditChain"/>) from a background writer. The queue
/// is bounded: when it is full, callers wait, and past <see cref="EnqueueDeadline"/> they get
/// <see cref="AuditUnavailableException"/>. A record is never dropped silently.
/// </summary>
public sealed partial class AuditLog : IAsyncDisposable
{
    private readonly Channel<AuditEntry> _queue;
    private readonly System.Buffers.ArrayBufferWriter<byte> _line = new(1024);
    private readonly System.Text.Json.Utf8JsonWriter _writer;
    private readonly Stream _output;
    private readonly ISigner _signer;
    private readonly int _checkpointEvery;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Task _writerTask;
    private long _seq;
    private string _prev;

    public AuditLog(Stream output, ISigner signer, TimeProvider time, ILogger<AuditLog> logger, int capacity = 10_000, int checkpointEvery = 1_000, long lastSeq = 0, string? lastHash = null)
    {
        _output = output;
        _signer = signer;
        _time = time;
        _logger = logger;
        _checkpointEvery = checkpointEvery;
        _seq = lastSeq;
        _prev = lastHash ?? AuditChain.Genesis;
        _writer = new System.Text.Json.Utf8JsonWriter(_line);
        _queue = Channel.CreateBounded<AuditEntry>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        _writerTask = Task.Run(WriteLoopAsync);
    }

    /// <summary>How long a decision may wait for room in the queue before it is denied.</summary>
    public TimeSpan EnqueueDeadline { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Opens (or continues) the log at <paramref name="path"/>, resuming its chain from the last line.</summary>
    public static AuditLog Open(string path, ISigner signer, TimeProvider time, ILogger<AuditLog> logger, int capacity = 10_000, int checkpointEvery = 1_000)
    {
        long seq = 0;
        string? hash = null;
        if (File.Exists(path))
        {
            var last = File.ReadLines(path).LastOrDefault(l => l.Length > 0);
            if (last is not null)
            {
                seq = System.Text.Json.Nodes.JsonNode.Parse(last)!["seq"]!.GetValue<long>();
                hash = AuditChain.Hash(System.Text.Encoding.UTF8.GetBytes(last));
            }
        }

        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 64 * 1024, FileOptions.Asynchronous);
        return new AuditLog(stream, signer, time, logger, capacity, checkpointEvery, seq, hash);
    }

    /// <summary>Queues one record; waits for room up to the deadline, then throws <see cref="AuditUnavailableException"/>.</summary>
    public async ValueTask AppendAsync(AuditEntry record, CancellationToken cancellationToken = default)
    {
        if (_queue.Writer.TryWrite(record))
        {
            return;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(EnqueueDeadline);
        try
        {
            await _queue.Writer.WriteAsync(record, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AuditUnavailableException($"the audit log did not accept a record within {EnqueueDeadline.TotalMilliseconds} ms");
        }
        catch (ChannelClosedException)
        {
            throw new AuditUnavailableException("the audit log is closed");
        }
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            await DrainAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Nothing more is written; the queue fills and decisions are denied with audit_unavailable.
            LogWriteFailed(_logger, e.Message);
        }
    }

    private async Task DrainAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var record))
            {
                _line.ResetWrittenCount();
                _writer.Reset();
                AuditChain.WriteLine(_writer, ++_seq, _prev, record.WriteFields);
                await WriteLineAsync(_line.WrittenMemory).ConfigureAwait(false);
                if (_seq % _checkpointEvery == 0)
                {
                    await WriteLineAsync(await AuditChain.CheckpointAsync(++_seq, _prev, _time.GetUtcNow(), _signer).ConfigureAwait(false)).ConfigureAwait(false);
                }
            }

            // Flush when the queue runs dry: bursts are written in one go, a quiet log is never left buffered.
            await _output.FlushAsync().ConfigureAwait(false);
        }
    }

    private async Task WriteLineAsync(ReadOnlyMemory<byte> line)
    {
        _prev = AuditChain.Hash(line.Span);
        await _output.WriteAsync(line).ConfigureAwait(false);
        _output.WriteByte((byte)'\n');
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writerTask.ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        await _output.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "audit log writer failed: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, string reason);
}
