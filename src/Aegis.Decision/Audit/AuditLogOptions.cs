using Aegis.Decision.Audit.Shipping;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;

namespace Aegis.Decision.Audit;

/// <summary>
/// How the audit log commits, checkpoints and rotates (docs/audit.md, "Durability"). A decision is answered only
/// after its record is written and fsynced. The writer takes every record waiting (at most
/// <see cref="CommitMaxRecords"/>), optionally waits up to <see cref="CommitWindow"/> for more, writes them with one
/// write() and fsyncs once; records arriving meanwhile form the next batch.
/// </summary>
public sealed record AuditLogOptions
{
    /// <summary>Folder of this replica's segments.</summary>
    public required string Directory { get; init; }

    /// <summary>This replica's id (pod name): in every segment header, checkpoint, file name and object key.</summary>
    public required string Replica { get; init; }

    /// <summary>The audit-purpose key that signs checkpoints.</summary>
    public required ISigner Signer { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Longest a record waits for others to share its fsync. 0 (the default) syncs as soon as the writer is free: the
    /// records that queued during one fsync share the next, which measured faster than any fixed window
    /// (docs/benchmarks.md). A window trades latency for fewer fsyncs on disks where they are slow.
    /// </summary>
    public TimeSpan CommitWindow { get; init; } = TimeSpan.Zero;

    /// <summary>A batch of this many records is committed without waiting out the window.</summary>
    public int CommitMaxRecords { get; init; } = 256;

    /// <summary>Records waiting to be committed, at most; past that appends wait up to <see cref="EnqueueDeadline"/>.</summary>
    public int QueueCapacity { get; init; } = 10_000;

    /// <summary>How long an append may wait for room before its decision is denied (audit_unavailable).</summary>
    public TimeSpan EnqueueDeadline { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A checkpoint after this many records...</summary>
    public int CheckpointEvery { get; init; } = 1_000;

    /// <summary>...or this long after the last one, whichever comes first (only when there are new records).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A segment is closed and a new one started past this size...</summary>
    public long SegmentMaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>...or this age.</summary>
    public TimeSpan SegmentMaxAge { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Where committed lines are shipped as well (stdout, OTLP); never on the commit path.</summary>
    public IReadOnlyList<IAuditSink> Sinks { get; init; } = [];

    /// <summary>Told the path of each segment once it is closed and read-only (the archive uploads it).</summary>
    public Action<string>? SegmentClosed { get; init; }

    /// <summary>Every problem with the options at once, each naming the option; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Directory))
        {
            errors.Add("Directory: required");
        }

        if (!AuditChain.IsValidReplica(Replica))
        {
            errors.Add($"Replica: \"{Replica}\" is not a replica id (1-128 of A-Z a-z 0-9 . _ -, not starting with '.')");
        }

        if (CommitWindow < TimeSpan.Zero || CommitWindow > TimeSpan.FromSeconds(1))
        {
            errors.Add($"CommitWindow: {CommitWindow.TotalMilliseconds} ms is outside 0 to 1000 ms");
        }

        if (CommitMaxRecords < 1)
        {
            errors.Add("CommitMaxRecords: must be at least 1");
        }

        if (QueueCapacity < CommitMaxRecords)
        {
            errors.Add("QueueCapacity: must be at least CommitMaxRecords");
        }

        if (CheckpointEvery < 1 || CheckpointInterval <= TimeSpan.Zero)
        {
            errors.Add("CheckpointEvery / CheckpointInterval: must be positive");
        }

        if (SegmentMaxBytes < 4096 || SegmentMaxAge < TimeSpan.FromSeconds(1))
        {
            errors.Add("SegmentMaxBytes / SegmentMaxAge: at least 4096 bytes and 1 s");
        }

        return errors;
    }
}
