using System.Text.Json;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Resources;

namespace Aegis.Decision.Audit.Shipping;

/// <summary>
/// Sends every committed line as an OTLP log record (OTLP/HTTP protobuf, <c>/v1/logs</c>) through the OpenTelemetry
/// SDK's exporter: the body is the line's exact text (so a SIEM copy verifies), and the fields a SOC filters on are
/// attributes (<c>aegis.audit.type</c>, <c>aegis.audit.seq</c>, <c>aegis.replica</c>, <c>aegis.decision_id</c>,
/// <c>aegis.tenant</c>, <c>aegis.agent_id</c>, <c>aegis.tool</c>, <c>aegis.effect</c>, <c>aegis.reason</c>).
/// </summary>
public sealed class OtlpAuditSink : QueuedAuditSink
{
    /// <summary>The instrumentation scope (logger category) of audit records.</summary>
    public const string Category = "Aegis.Audit";

    private static readonly (string Field, string Attribute)[] Attributes =
    [
        ("type", "aegis.audit.type"), ("decisionId", "aegis.decision_id"), ("tenant", "aegis.tenant"), ("agentId", "aegis.agent_id"),
        ("tool", "aegis.tool"), ("effect", "aegis.effect"), ("reason", "aegis.reason"), ("policy", "aegis.policy"), ("rule", "aegis.rule"),
    ];

    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly string _replica;

    public OtlpAuditSink(Uri endpoint, string replica, TimeProvider time, TimeSpan batchDelay)
        : base(time)
    {
        _replica = replica;
        _loggers = LoggerFactory.Create(logging => logging.AddOpenTelemetry(otel =>
        {
            // The line's text is the record's body; the fields above become attributes.
            otel.IncludeFormattedMessage = true;
            otel.ParseStateValues = true;
            otel.SetResourceBuilder(ResourceBuilder.CreateDefault().AddService("aegis-decision", serviceInstanceId: replica));
            otel.AddOtlpExporter((exporter, processor) =>
            {
                exporter.Endpoint = new Uri(endpoint, "v1/logs");
                exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                processor.BatchExportProcessorOptions.ScheduledDelayMilliseconds = (int)batchDelay.TotalMilliseconds;
            });
        }));
        _logger = _loggers.CreateLogger(Category);
    }

    public override string Name => "otlp";

    protected override Task ShipAsync(AuditBatch batch, CancellationToken cancellationToken)
    {
        foreach (var line in batch.Each())
        {
            var state = new List<KeyValuePair<string, object?>>(12) { new("aegis.replica", _replica) };
            using (var doc = JsonDocument.Parse(line))
            {
                var root = doc.RootElement;
                if (root.TryGetProperty("seq", out var seq) && seq.TryGetInt64(out var n))
                {
                    state.Add(new("aegis.audit.seq", n));
                }

                foreach (var (field, attribute) in Attributes)
                {
                    if (root.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String)
                    {
                        state.Add(new(attribute, value.GetString()));
                    }
                }
            }

            var text = System.Text.Encoding.UTF8.GetString(line.Span);
            _logger.Log(LogLevel.Information, new EventId(1, "aegis.audit"), state, null, (_, _) => text);
        }

        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);

        // Disposing the provider flushes what the exporter still holds.
        _loggers.Dispose();
    }
}
