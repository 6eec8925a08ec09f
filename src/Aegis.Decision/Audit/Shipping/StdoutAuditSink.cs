namespace Aegis.Decision.Audit.Shipping;

/// <summary>
/// Writes every committed line, byte for byte, to a stream (the process's stdout) for node log collectors (Fluent
/// Bit, Vector, the Cloud Logging agent). Lines are the chain's own bytes, so what a SIEM keeps verifies too; its
/// checkpoint lines serve as anchors for <c>aegis audit verify --anchors</c>.
/// </summary>
public sealed class StdoutAuditSink(Stream output, TimeProvider time) : QueuedAuditSink(time)
{
    public override string Name => "stdout";

    protected override async Task ShipAsync(AuditBatch batch, CancellationToken cancellationToken)
    {
        await output.WriteAsync(batch.Lines, cancellationToken).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
