using System.Collections.Concurrent;
using System.IO.Compression;
using Aegis.Decision.Audit;
using Aegis.Decision.Audit.Shipping;
using Aegis.Decision.Tests.Otlp.Collector;
using Aegis.Decision.Tests.Otlp.Logs;
using Aegis.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Decision.Tests.Audit;

public class AuditShippingTests
{
    [Fact]
    public async Task StdoutSink_GetsExactlyTheBytesOfTheSegmentFiles()
    {
        using var dir = new TempDirectory();
        using var stdout = new MemoryStream();
        var sink = new StdoutAuditSink(stdout, TimeProvider.System);
        await using (var log = AuditLog.Open(new AuditLogOptions { Directory = dir.Path, Replica = "r1", Signer = TestKeys.AuditSigner, CommitWindow = TimeSpan.Zero, SegmentMaxBytes = 4096, Sinks = [sink] }, NullLogger<AuditLog>.Instance))
        {
            for (var i = 0; i < 30; i++)
            {
                await log.AppendAsync(new AuditEntry { Time = DateTimeOffset.UnixEpoch, DecisionId = $"d{i}", Effect = "allow", Reason = "rule_matched" });
            }
        }

        var files = Directory.GetFiles(dir.Path, "*.jsonl").Order(StringComparer.Ordinal).SelectMany(File.ReadAllBytes).ToArray();
        Assert.True(Directory.GetFiles(dir.Path, "*.jsonl").Length > 1, "rotated at least once");
        Assert.Equal(files, stdout.ToArray());
        Assert.Equal(0, sink.Status.Dropped);
    }

    [Fact]
    public async Task OtlpSink_SendsEachLineAsALogRecordWhoseBodyIsTheLine()
    {
        var received = new ConcurrentQueue<ExportLogsServiceRequest>();
        var refused = new ConcurrentQueue<string>();
        await using var collector = LoopbackPorts.CreateApp();
        collector.MapPost("/v1/logs", async (HttpRequest request) =>
        {
            using var buffer = new MemoryStream();
            var body = request.Headers.ContentEncoding == "gzip" ? new GZipStream(request.Body, CompressionMode.Decompress) : request.Body;
            await body.CopyToAsync(buffer);
            var bytes = buffer.ToArray();
            if (request.ContentType != "application/x-protobuf")
            {
                refused.Enqueue("content-type " + request.ContentType);
                return Results.StatusCode(415);
            }

            // Strict: a field the OTLP logs schema does not define is an error (generated messages compare unknown
            // fields in Equals; the exporter's padded length varints are valid protobuf and parse the same).
            var parsed = ExportLogsServiceRequest.Parser.ParseFrom(bytes);
            if (!parsed.Equals(ExportLogsServiceRequest.Parser.WithDiscardUnknownFields(true).ParseFrom(bytes)))
            {
                refused.Enqueue("fields outside the OTLP logs schema");
                return Results.BadRequest();
            }

            received.Enqueue(parsed);
            return Results.Ok();
        });
        await collector.StartAsync();

        using var dir = new TempDirectory();
        var pipeline = AuditPipeline.Start(new DecisionAuditOptions
        {
            Log = new() { Directory = dir.Path, Replica = "decision-7f9c", Signer = TestKeys.AuditSigner },
            OtlpEndpoint = new Uri(LoopbackPorts.BaseUrl(collector) + "/"),
            OtlpBatchDelay = TimeSpan.FromMilliseconds(100),
        }, TimeProvider.System, NullLoggerFactory.Instance);
        await using (pipeline)
        {
            await pipeline.Log.AppendAsync(new AuditEntry { Time = DateTimeOffset.UnixEpoch, DecisionId = "d-otlp-1", Tenant = "acme", AgentId = "bot", Tool = "stripe.transfer", Effect = "deny", Reason = "default_effect" });
            await Eventually.TrueAsync(() => Records(received).Any(r => r.Body.StringValue.Contains("d-otlp-1", StringComparison.Ordinal)), "the record at the collector");
        }

        Assert.Empty(refused);
        var line = File.ReadAllLines(Directory.GetFiles(dir.Path, "*.jsonl").Single()).Single(l => l.Contains("d-otlp-1", StringComparison.Ordinal));
        var record = Records(received).Single(r => r.Body.StringValue.Contains("d-otlp-1", StringComparison.Ordinal));
        Assert.Equal(line, record.Body.StringValue);
        var attributes = record.Attributes.ToDictionary(a => a.Key, a => a.Value);
        Assert.Equal(("decision", "d-otlp-1", "acme", "bot", "stripe.transfer", "deny", "default_effect", "decision-7f9c"),
            (attributes["aegis.audit.type"].StringValue, attributes["aegis.decision_id"].StringValue, attributes["aegis.tenant"].StringValue, attributes["aegis.agent_id"].StringValue,
             attributes["aegis.tool"].StringValue, attributes["aegis.effect"].StringValue, attributes["aegis.reason"].StringValue, attributes["aegis.replica"].StringValue));
        Assert.Equal(2, attributes["aegis.audit.seq"].IntValue);
        var resource = received.SelectMany(r => r.ResourceLogs).First().Resource.Attributes.ToDictionary(a => a.Key, a => a.Value.StringValue);
        Assert.Equal(("aegis-decision", "decision-7f9c"), (resource["service.name"], resource["service.instance.id"]));
        Assert.Equal(OtlpAuditSink.Category, received.SelectMany(r => r.ResourceLogs).SelectMany(r => r.ScopeLogs).First().Scope.Name);
    }

    private static IEnumerable<LogRecord> Records(ConcurrentQueue<ExportLogsServiceRequest> received) =>
        received.SelectMany(r => r.ResourceLogs).SelectMany(r => r.ScopeLogs).SelectMany(s => s.LogRecords);
}
