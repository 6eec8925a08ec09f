using System.Text.Json.Nodes;
using Aegis.Decision.Audit;
using Aegis.Policy.Audit;
using Aegis.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Decision.Tests;

public class AuditLogTests
{
    private static AuditEntry Entry(string id) =>
        new(DateTimeOffset.UnixEpoch, id, "acme", "bot", "x", "POST", "h", "/", "allow", "rule_matched", "p", "r", "rev", 0.25m, null, 0, []);

    /// <summary>A stream whose writes block until released, like a disk that stopped answering.</summary>
    private sealed class StalledStream : MemoryStream
    {
        public SemaphoreSlim Release { get; } = new(0);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Release.WaitAsync(cancellationToken);
            await base.WriteAsync(buffer, cancellationToken);
        }
    }

    [Fact]
    public async Task AppendAsync_WritesAChainWithCheckpointsThatVerifies()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "audit.log");
        await using (var log = AuditLog.Open(path, TestKeys.AuditSigner, TimeProvider.System, NullLogger<AuditLog>.Instance, checkpointEvery: 4))
        {
            for (var i = 0; i < 10; i++)
            {
                await log.AppendAsync(Entry($"d{i}"));
            }
        }

        // Reopening continues the same chain.
        await using (var log = AuditLog.Open(path, TestKeys.AuditSigner, TimeProvider.System, NullLogger<AuditLog>.Instance, checkpointEvery: 4))
        {
            await log.AppendAsync(Entry("d10"));
        }

        var result = AuditChain.Verify(File.ReadLines(path), TestKeys.Jwks);
        Assert.True(result.Valid, result.Reason);
        Assert.Equal(14, result.Records);
        Assert.Equal(3, result.Checkpoints);
    }

    [Fact]
    public async Task AppendAsync_QueueFullPastTheDeadline_ThrowsInsteadOfDropping()
    {
        var stream = new StalledStream();
        var log = new AuditLog(stream, TestKeys.AuditSigner, TimeProvider.System, NullLogger<AuditLog>.Instance, capacity: 2) { EnqueueDeadline = TimeSpan.FromMilliseconds(100) };

        // The writer takes the first record and blocks on it; two more fill the queue; the fourth must fail.
        await log.AppendAsync(Entry("1"));
        await Task.Delay(50);
        await log.AppendAsync(Entry("2"));
        await log.AppendAsync(Entry("3"));
        await Assert.ThrowsAsync<AuditUnavailableException>(() => log.AppendAsync(Entry("4")).AsTask());

        stream.Release.Release(int.MaxValue / 2);
        await log.DisposeAsync();
        var lines = System.Text.Encoding.UTF8.GetString(stream.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.True(AuditChain.Verify(lines, TestKeys.Jwks).Valid);
    }

    [Fact]
    public async Task Server_EveryDecisionIsAudited()
    {
        await using var f = await ServerFixture.StartAsync(audit: true);
        var token = await f.TokenAsync();
        await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 1}"""));
        await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 9000}"""));
        await f.Client.CheckAsync(ServerFixture.Check("bad.to.ken", "stripe.x"));

        await Eventually.TrueAsync(() => File.Exists(f.AuditPath) && File.ReadAllLines(f.AuditPath).Length == 3);
        var lines = File.ReadAllLines(f.AuditPath);
        Assert.True(AuditChain.Verify(lines, f.Jwks).Valid);
        var records = lines.Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(["allow", "approval_needed", "deny"], records.Select(r => r["effect"]!.ToString()));
        Assert.Equal(["rule_matched", "rule_matched", "token_malformed"], records.Select(r => r["reason"]!.ToString()));
        Assert.Equal("payments-bot", records[0]["agentId"]!.ToString());
        Assert.Equal("fin/payments", records[1]["policy"]!.ToString());
    }
}
