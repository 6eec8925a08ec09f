using System.Text;
using System.Text.Json.Nodes;
using Aegis.Decision.Audit;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Decision.Tests.Audit;

public class AuditLogTests
{
    private static readonly AuditKeys Keys = AuditKeys.Parse(AuditKeys.Jwks(TestKeys.AuditSigner.PublicJwk));

    private static AuditEntry Entry(string id) => new()
    {
        Time = DateTimeOffset.UnixEpoch,
        DecisionId = id,
        Tenant = "acme",
        AgentId = "bot",
        Tool = "x",
        ArgsDigest = new string('a', 64),
        Effect = "allow",
        Reason = "rule_matched",
        Policy = "p",
        Rule = "r",
        Revision = "rev",
        Cost = 0.25m,
    };

    private static AuditLogOptions Options(string dir, ISigner? signer = null, TimeProvider? time = null) => new()
    {
        Directory = dir,
        Replica = "r1",
        Signer = signer ?? TestKeys.AuditSigner,
        Time = time ?? TimeProvider.System,
        CommitWindow = TimeSpan.Zero,
    };

    private static AuditLog Open(AuditLogOptions options) => AuditLog.Open(options, NullLogger<AuditLog>.Instance);

    private static AuditReport Verify(string dir) =>
        AuditVerifier.Verify(Directory.GetFiles(dir, "*.jsonl").Select(f => new AuditSource(f, File.ReadAllBytes(f))), Keys);

    private static List<JsonObject> Lines(string dir) =>
        [.. Directory.GetFiles(dir, "*.jsonl").Order(StringComparer.Ordinal)
            .SelectMany(f => ServerFixture.ReadShared(f).Split('\n', StringSplitOptions.RemoveEmptyEntries)).Select(l => JsonNode.Parse(l)!.AsObject())];

    [Fact]
    public async Task AppendAsync_ConcurrentAppends_ShareFsyncsAndTheChainVerifies()
    {
        using var dir = new TempDirectory();
        AuditLogStatus status;
        await using (var log = Open(Options(dir.Path) with { CommitWindow = TimeSpan.FromMilliseconds(50), CommitMaxRecords = 256 }))
        {
            // Every append queues synchronously; the writer gathers them into a few batches, one fsync each.
            await Task.WhenAll(Enumerable.Range(0, 500).Select(i => log.AppendAsync(Entry($"d{i}")).AsTask()));
            status = log.Status;
        }

        Assert.Equal(500, status.Records);
        Assert.InRange(status.Commits, 2, 20);
        var report = Verify(dir.Path);
        Assert.True(report.Valid, string.Join("\n", report.Problems));
        var chain = Assert.Single(report.Replicas);
        Assert.Equal((500L, true), (chain.Records, chain.Closed));
        Assert.Equal(Enumerable.Range(0, 500).Select(i => $"d{i}").Order(StringComparer.Ordinal),
            Lines(dir.Path).Where(l => (string?)l["type"] == "decision").Select(l => (string)l["decisionId"]!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task AppendAsync_Completes_OnlyOnceTheRecordIsInTheSegmentFile()
    {
        using var dir = new TempDirectory();
        await using var log = Open(Options(dir.Path) with { CommitWindow = TimeSpan.FromMilliseconds(20) });

        for (var i = 0; i < 20; i++)
        {
            await log.AppendAsync(Entry($"answered-{i}"));
            Assert.Contains($"\"decisionId\":\"answered-{i}\"", ServerFixture.ReadShared(log.ActiveSegment), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Open_AfterACrashLeftATornTail_CutsItAndRecordsTheRepairInTheChain()
    {
        using var dir = new TempDirectory();
        await using (var log = Open(Options(dir.Path)))
        {
            for (var i = 0; i < 3; i++)
            {
                await log.AppendAsync(Entry($"d{i}"));
            }
        }

        // What kill -9 mid-write leaves: no closing checkpoint, and half a line.
        var path = Directory.GetFiles(dir.Path, "*.jsonl").Single();
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var lines = File.ReadAllLines(path);
        var torn = "{\"seq\":5,\"prev\":\"0f3c\",\"type\":\"deci"u8.ToArray();
        File.WriteAllBytes(path, [.. Encoding.UTF8.GetBytes(string.Concat(lines[..^1].Select(l => l + "\n"))), .. torn]);
        var keptLength = new FileInfo(path).Length - torn.Length;

        await using (var log = Open(Options(dir.Path)))
        {
            await log.AppendAsync(Entry("after-restart"));
        }

        var report = Verify(dir.Path);
        Assert.True(report.Valid, string.Join("\n", report.Problems));
        var all = Lines(dir.Path);
        var repair = Assert.Single(all, l => (string?)l["type"] == "repair");
        Assert.Equal((5L, torn.Length, AuditChain.Hash(torn), keptLength), ((long)repair["seq"]!, (int)repair["bytes"]!, (string)repair["sha256"]!, (long)repair["offset"]!));
        Assert.Equal("after-restart", (string?)all[5]["decisionId"]);
        Assert.Equal(torn, File.ReadAllBytes($"{path}.cut-{keptLength}"));
        Assert.Equal(5, Assert.Single(report.Replicas).Records);
    }

    [Fact]
    public async Task Open_WhenTheLastSegmentWasClosed_StartsTheNextOneChainedToIt()
    {
        using var dir = new TempDirectory();
        for (var run = 0; run < 3; run++)
        {
            await using var log = Open(Options(dir.Path));
            await log.AppendAsync(Entry($"run-{run}"));
        }

        var report = Verify(dir.Path);

        Assert.True(report.Valid, string.Join("\n", report.Problems));
        var chain = Assert.Single(report.Replicas);
        Assert.Equal((1L, 3L, 3L, true), (chain.FirstSegment, chain.LastSegment, chain.Records, chain.Closed));
        Assert.Equal(["r1.00000001.jsonl", "r1.00000002.jsonl", "r1.00000003.jsonl"], Directory.GetFiles(dir.Path, "*.jsonl").Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Rotation_BySize_ClosesReadOnlySegmentsAndReportsEachOne()
    {
        using var dir = new TempDirectory();
        var closed = new List<string>();
        await using (var log = Open(Options(dir.Path) with { SegmentMaxBytes = 4096, SegmentClosed = closed.Add }))
        {
            for (var i = 0; i < 60; i++)
            {
                await log.AppendAsync(Entry($"d{i}"));
            }
        }

        var report = Verify(dir.Path);
        Assert.True(report.Valid, string.Join("\n", report.Problems));
        var files = Directory.GetFiles(dir.Path, "*.jsonl").Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 4, $"{files.Count} segments");
        Assert.Equal(files, closed);
        if (!OperatingSystem.IsWindows())
        {
            foreach (var file in files)
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(file));
            }
        }

        Assert.Equal(60, Assert.Single(report.Replicas).Records);
    }

    [Fact]
    public async Task Checkpoint_ASlowSigner_NeverHoldsUpCommits()
    {
        using var dir = new TempDirectory();
        var slow = new GatedSigner(TestKeys.AuditSigner);
        await using (var log = Open(Options(dir.Path, slow) with { CheckpointEvery = 5 }))
        {
            // The checkpoint after 5 records waits on the signer; the next 20 commits go on regardless.
            for (var i = 0; i < 25; i++)
            {
                await log.AppendAsync(Entry($"d{i}")).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }

            Assert.Equal(0, log.Status.Checkpoints);
            slow.Open();
            await Eventually.TrueAsync(() => log.Status.Checkpoints >= 1, "the delayed checkpoint written");
        }

        var report = Verify(dir.Path);
        Assert.True(report.Valid, string.Join("\n", report.Problems));
        var checkpoint = Lines(dir.Path).First(l => (string?)l["type"] == "checkpoint");
        Assert.Equal(6L, (long)checkpoint["covers"]!);
        Assert.True((long)checkpoint["seq"]! > 7, "the checkpoint line comes after the records committed while it was being signed");
    }

    [Fact]
    public async Task Checkpoint_FailingSigner_KeepsCommittingAndCountsTheFailures()
    {
        using var dir = new TempDirectory();
        await using (var log = Open(Options(dir.Path, new FailingSigner()) with { CheckpointEvery = 2 }))
        {
            for (var i = 0; i < 10; i++)
            {
                await log.AppendAsync(Entry($"d{i}"));
            }

            await Eventually.TrueAsync(() => log.Status.CheckpointFailures >= 1, "a failed checkpoint counted");
        }

        // Unsigned but chained, and the segment stays open (its closing checkpoint could not be signed either).
        var report = AuditVerifier.Verify(Directory.GetFiles(dir.Path, "*.jsonl").Select(f => new AuditSource(f, File.ReadAllBytes(f))), Keys);
        Assert.True(report.Valid, string.Join("\n", report.Problems));
        var chain = Assert.Single(report.Replicas);
        Assert.Equal((10L, 0L, false), (chain.Records, chain.Checkpoints, chain.Closed));
    }

    [Fact]
    public async Task Checkpoint_AQuietLog_IsSignedAfterTheInterval()
    {
        using var dir = new TempDirectory();
        await using var log = Open(Options(dir.Path) with { CheckpointInterval = TimeSpan.FromMilliseconds(200) });

        await log.AppendAsync(Entry("only-one"));

        await Eventually.TrueAsync(() => ServerFixture.ReadShared(log.ActiveSegment).Contains("\"type\":\"checkpoint\"", StringComparison.Ordinal), "a checkpoint without further records");
    }

    [Fact]
    public async Task AppendSettlementAsync_RecordsTheSettledCostAgainstTheDecision()
    {
        using var dir = new TempDirectory();
        await using (var log = Open(Options(dir.Path)))
        {
            await log.AppendAsync(Entry("d1"));
            await log.AppendSettlementAsync(new AuditSettlement
            {
                Time = DateTimeOffset.UnixEpoch,
                DecisionId = "d1",
                Tenant = "acme",
                AgentId = "bot",
                Tool = "openai.chat.completions",
                Reserved = 0.40m,
                Settled = 0.0123m,
                Detail = "openai.usage: 1200 input, 300 output tokens",
            });
        }

        Assert.True(Verify(dir.Path).Valid);
        var settlement = Assert.Single(Lines(dir.Path), l => (string?)l["type"] == "settlement");
        Assert.Equal(("d1", "0.40", "0.0123", "acme", "bot"), ((string)settlement["decisionId"]!, (string)settlement["reserved"]!, (string)settlement["settled"]!, (string)settlement["tenant"]!, (string)settlement["agentId"]!));
    }

    [Fact]
    public void Open_BadOptions_NamesEveryBadOption()
    {
        using var dir = new TempDirectory();

        var error = Assert.Throws<ArgumentException>(() => Open(Options(dir.Path) with { Replica = "../etc", CommitWindow = TimeSpan.FromSeconds(-1), CommitMaxRecords = 0 }));

        Assert.Contains("Replica: \"../etc\" is not a replica id", error.Message, StringComparison.Ordinal);
        Assert.Contains("CommitWindow", error.Message, StringComparison.Ordinal);
        Assert.Contains("CommitMaxRecords", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    /// <summary>Signs only once opened, like a KMS that is slow to answer.</summary>
    private sealed class GatedSigner(ISigner inner) : ISigner
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string KeyId => inner.KeyId;
        public string Algorithm => inner.Algorithm;
        public KeyPurpose Purpose => inner.Purpose;

        public void Open() => _gate.TrySetResult();

        public async ValueTask<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            await _gate.Task.WaitAsync(cancellationToken);
            return await inner.SignAsync(data, cancellationToken);
        }
    }

    /// <summary>A KMS that refuses every request.</summary>
    private sealed class FailingSigner : ISigner
    {
        public string KeyId => "kms-down";
        public string Algorithm => "EdDSA";
        public KeyPurpose Purpose => KeyPurpose.Audit;

        public ValueTask<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("KMS unavailable");
    }
}
