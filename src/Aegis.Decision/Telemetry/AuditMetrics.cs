using System.Globalization;
using System.Text;
using Aegis.Decision.Audit;
using Aegis.Decision.Audit.Archive;

namespace Aegis.Decision.Telemetry;

/// <summary>The audit log's commit, checkpoint and shipping figures in the Prometheus text format.</summary>
internal static class AuditMetrics
{
    public static void Write(StringBuilder sb, AuditLog? log, AuditArchiveUploader? archive)
    {
        if (log is null)
        {
            return;
        }

        var s = log.Status;
        sb.Append("# HELP aegis_audit_records_total Audit records committed (written and fsynced).\n# TYPE aegis_audit_records_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_records_total {s.Records}\n");
        sb.Append("# HELP aegis_audit_commits_total Group commits (one write and one fsync each).\n# TYPE aegis_audit_commits_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_commits_total {s.Commits}\n");
        sb.Append("# HELP aegis_audit_commit_seconds_total Time spent writing and fsyncing commits.\n# TYPE aegis_audit_commit_seconds_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_commit_seconds_total {s.CommitTime.TotalSeconds:0.######}\n");
        sb.Append("# HELP aegis_audit_checkpoints_total Signed checkpoints written.\n# TYPE aegis_audit_checkpoints_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_checkpoints_total {s.Checkpoints}\n");
        sb.Append("# HELP aegis_audit_checkpoint_failures_total Checkpoints that could not be signed (the key or KMS failed).\n# TYPE aegis_audit_checkpoint_failures_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_checkpoint_failures_total {s.CheckpointFailures}\n");
        sb.Append("# HELP aegis_audit_segment The segment being written.\n# TYPE aegis_audit_segment gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_segment {s.Segment}\n");
        sb.Append("# HELP aegis_audit_failed 1 when the log stopped after a write failure (every decision is denied with audit_unavailable).\n# TYPE aegis_audit_failed gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_failed {(s.Failed ? 1 : 0)}\n");

        sb.Append("# HELP aegis_audit_shipping_lag_seconds Age of the oldest committed audit data not yet shipped, per sink.\n# TYPE aegis_audit_shipping_lag_seconds gauge\n");
        foreach (var sink in log.Sinks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_shipping_lag_seconds{{sink=\"{sink.Name}\"}} {sink.Status.Lag.TotalSeconds:0.###}\n");
        }

        var upload = archive?.Status;
        if (upload is { } u)
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_shipping_lag_seconds{{sink=\"archive\"}} {u.OldestPending.TotalSeconds:0.###}\n");
        }

        sb.Append("# HELP aegis_audit_shipped_total Batches (sinks) or segments (archive) shipped.\n# TYPE aegis_audit_shipped_total counter\n");
        sb.Append("# HELP aegis_audit_shipping_dropped_total Batches a sink could not keep up with (still in the segment files).\n# TYPE aegis_audit_shipping_dropped_total counter\n");
        sb.Append("# HELP aegis_audit_shipping_failures_total Failed shipments (retried by the archive).\n# TYPE aegis_audit_shipping_failures_total counter\n");
        foreach (var sink in log.Sinks)
        {
            var st = sink.Status;
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_shipped_total{{sink=\"{sink.Name}\"}} {st.Shipped}\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_shipping_dropped_total{{sink=\"{sink.Name}\"}} {st.Dropped}\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_shipping_failures_total{{sink=\"{sink.Name}\"}} {st.Failed}\n");
        }

        if (upload is { } a)
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_shipped_total{{sink=\"archive\"}} {a.Uploaded}\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_shipping_failures_total{{sink=\"archive\"}} {a.Failures}\n");
            sb.Append("# HELP aegis_audit_segments_pending_upload Closed segments not yet in the archive.\n# TYPE aegis_audit_segments_pending_upload gauge\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_segments_pending_upload {a.Pending}\n");
            sb.Append("# HELP aegis_audit_archive_conflicts_total Segments the archive already held with other bytes.\n# TYPE aegis_audit_archive_conflicts_total counter\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_audit_archive_conflicts_total {a.Conflicts}\n");
        }
    }
}
