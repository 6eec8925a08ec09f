using Aegis.Decision.Audit.Archive;
using Aegis.Decision.Audit.Shipping;

namespace Aegis.Decision.Audit;

/// <summary>How a decision server audits: its log (folder, replica, signer, commit and rotation) and where lines are shipped.</summary>
public sealed record DecisionAuditOptions
{
    /// <summary>The log itself; <see cref="AuditPipeline"/> fills in the clock, the sinks and the archive hook.</summary>
    public required AuditLogOptions Log { get; init; }

    /// <summary>Also write every committed line to this stream (stdout, for node collectors).</summary>
    public Stream? Stdout { get; init; }

    /// <summary>Also send every committed line as an OTLP log record to this collector (http://collector:4318/).</summary>
    public Uri? OtlpEndpoint { get; init; }

    public TimeSpan OtlpBatchDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Upload closed segments here (S3 with Object Lock, GCS with a locked retention policy).</summary>
    public IAuditArchive? Archive { get; init; }

    /// <summary>How long archived segments are locked.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(365);

    /// <summary>How long stopping keeps trying to upload the segment it just closed (within the shutdown drain).</summary>
    public TimeSpan ArchiveDrainTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The audit log of a decision server with its sinks and archive uploader, started together and stopped in order:
/// the log first (its last segment gets its closing checkpoint and is queued for upload), then the uploader.
/// </summary>
public sealed class AuditPipeline : IAsyncDisposable
{
    private AuditPipeline(AuditLog log, AuditArchiveUploader? archive)
    {
        Log = log;
        Archive = archive;
    }

    public AuditLog Log { get; }
    public AuditArchiveUploader? Archive { get; }

    /// <summary>Opens the log (repairing a torn tail), starts the sinks and queues closed segments not yet archived.</summary>
    public static AuditPipeline Start(DecisionAuditOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        var archive = options.Archive is { } store
            ? new AuditArchiveUploader(store, options.Log.Replica, options.Retention, time, loggers.CreateLogger<AuditArchiveUploader>()) { DrainTimeout = options.ArchiveDrainTimeout }
            : null;
        var sinks = new List<IAuditSink>();
        if (options.Stdout is { } stdout)
        {
            sinks.Add(new StdoutAuditSink(stdout, time));
        }

        if (options.OtlpEndpoint is { } otlp)
        {
            sinks.Add(new OtlpAuditSink(otlp, options.Log.Replica, time, options.OtlpBatchDelay));
        }

        AuditLog log;
        try
        {
            log = AuditLog.Open(options.Log with { Time = time, Sinks = sinks, SegmentClosed = archive is null ? null : archive.Enqueue }, loggers.CreateLogger<AuditLog>());
        }
        catch
        {
            // The sinks already run their loops; stop them before the error reaches the host.
            foreach (var sink in sinks)
            {
                sink.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            throw;
        }

        archive?.Start(options.Log.Directory, log.ActiveSegment);
        return new AuditPipeline(log, archive);
    }

    public async ValueTask DisposeAsync()
    {
        await Log.DisposeAsync().ConfigureAwait(false);
        if (Archive is not null)
        {
            await Archive.DisposeAsync().ConfigureAwait(false);
        }
    }
}
