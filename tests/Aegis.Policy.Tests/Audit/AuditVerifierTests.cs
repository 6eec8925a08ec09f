using System.Text;
using System.Text.Json.Nodes;
using Aegis.Policy.Audit;
using Aegis.TestSupport;
using Aegis.TestSupport.Audit;

namespace Aegis.Policy.Tests.Audit;

public class AuditVerifierTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);
    private static readonly AuditKeys Keys = AuditKeys.Parse(AuditKeys.Jwks(TestKeys.AuditSigner.PublicJwk));

    /// <summary>
    /// Three closed segments of 13 lines each (header, 5 decisions, checkpoint, 5 decisions, closing checkpoint: lines
    /// 1-13, 14-26, 27-39), then an open segment 4 (header 40, decisions 41-43).
    /// </summary>
    private static async Task<AuditChainBuilder> ChainAsync(string replica = "r1")
    {
        var chain = await new AuditChainBuilder(replica, TestKeys.AuditSigner, T0).ClosedSegmentsAsync(3, 10);
        chain.Segment().Decisions(3);
        return chain;
    }

    [Fact]
    public async Task Verify_IntactReplicas_AreValidWithTheirCounts()
    {
        var r1 = await ChainAsync("r1");
        var r2 = await new AuditChainBuilder("r2", TestKeys.AuditSigner, T0).ClosedSegmentsAsync(2, 4);

        // Given in any order, and file names do not matter: the headers do.
        var sources = r1.Sources().Concat(r2.Sources()).Reverse().Select((s, i) => s with { Name = $"copy-{i}.jsonl" });
        var report = AuditVerifier.Verify(sources, Keys);

        Assert.True(report.Valid, string.Join("\n", report.Problems));
        Assert.Equal(["r1", "r2"], report.Replicas.Select(r => r.Replica));
        var first = report.Replicas[0];
        Assert.Equal((1L, 4L, 43L, 33L, 6L, 38L, false), (first.FirstSegment, first.LastSegment, first.Lines, first.Records, first.Checkpoints, first.SignedThrough, first.Closed));
        Assert.True(report.Replicas[1].Closed);
    }

    public static TheoryData<string, string, long, long> Tampering() => new()
    {
        // what was done, the reason, the segment and the record named
        { "edit a record", AuditProblems.Edited, 2, 16 },
        { "delete a record", AuditProblems.Missing, 2, 16 },
        { "swap two records", AuditProblems.Missing, 2, 16 },
        { "insert a copy of a record", AuditProblems.OutOfOrder, 2, 17 },
        { "garbage line", AuditProblems.NotJson, 2, 16 },
        { "remove a middle segment", AuditProblems.SegmentMissing, 2, 14 },
        { "remove the first segment", AuditProblems.SegmentMissing, 1, 1 },
        { "cut the tail of a closed segment", AuditProblems.SegmentCut, 1, 12 },
        { "edit the last line of a segment", AuditProblems.Edited, 1, 13 },
        { "replace a segment with another chain's", AuditProblems.Edited, 1, 13 },
        { "forge a checkpoint with another key", AuditProblems.CheckpointInvalid, 2, 20 },
        { "edit a checkpoint's count", AuditProblems.CheckpointInvalid, 2, 20 },
        { "remove a checkpoint", AuditProblems.Missing, 2, 20 },
        { "edit a record and recompute the chain up to a checkpoint", AuditProblems.CheckpointInvalid, 2, 20 },
        { "a torn line after a closing checkpoint", AuditProblems.TornTail, 2, 27 },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public async Task Verify_TamperedSegments_NamesTheReplicaSegmentAndFirstBadRecord(string tampering, string reason, long segment, long record)
    {
        var chain = await ChainAsync();
        var s2 = chain.Segments[1];
        switch (tampering)
        {
            case "edit a record":
                s2[2] = s2[2].Replace("\"allow\"", "\"deny\"", StringComparison.Ordinal);
                break;
            case "delete a record":
                s2.RemoveAt(2);
                break;
            case "swap two records":
                (s2[2], s2[3]) = (s2[3], s2[2]);
                break;
            case "insert a copy of a record":
                s2.Insert(3, s2[2]);
                break;
            case "garbage line":
                s2[2] = "{{{";
                break;
            case "remove a middle segment":
                chain.Segments.RemoveAt(1);
                break;
            case "remove the first segment":
                chain.Segments.RemoveAt(0);
                break;
            case "cut the tail of a closed segment":
                chain.Segments[0].RemoveRange(11, 2);
                break;
            case "edit the last line of a segment":
                var closing = JsonNode.Parse(chain.Segments[0][^1])!.AsObject();
                closing["time"] = T0.AddDays(1);
                chain.Segments[0][^1] = closing.ToJsonString();
                break;
            case "replace a segment with another chain's":
                var other = await new AuditChainBuilder("r1", TestKeys.AuditSigner, T0.AddHours(1)).ClosedSegmentsAsync(1, 10);
                chain.Segments[0] = other.Segments[0];
                break;
            case "forge a checkpoint with another key":
                var forger = await new AuditChainBuilder("r1", TestKeys.AuditSigner, T0).ClosedSegmentsAsync(1, 10);
                forger.Segment().Decisions(5);
                await forger.CheckpointAsync(by: TestKeys.Stranger);
                s2[6] = forger.Segments[1][6];
                break;
            case "edit a checkpoint's count":
                var checkpoint = JsonNode.Parse(s2[6])!.AsObject();
                checkpoint["count"] = 1;
                s2[6] = checkpoint.ToJsonString();
                break;
            case "remove a checkpoint":
                s2.RemoveAt(6);
                break;
            case "edit a record and recompute the chain up to a checkpoint":
                // A careful forger rewrites record 16 and every prev after it; the signed checkpoint no longer fits.
                var prev = JsonNode.Parse(s2[2])!["prev"]!.GetValue<string>();
                for (var i = 2; i < 6; i++)
                {
                    var node = JsonNode.Parse(s2[i])!.AsObject();
                    node.Remove("seq");
                    node.Remove("prev");
                    if (i == 2)
                    {
                        node["effect"] = "deny";
                    }

                    var line = AuditChain.Line(14 + i, prev, node);
                    s2[i] = Encoding.UTF8.GetString(line);
                    prev = AuditChain.Hash(line);
                }

                var cp = JsonNode.Parse(s2[6])!.AsObject();
                cp["prev"] = prev;
                s2[6] = cp.ToJsonString();
                break;
        }

        var sources = chain.Sources();
        if (tampering == "a torn line after a closing checkpoint")
        {
            sources[1] = sources[1] with { Content = [.. sources[1].Content, .. "{\"seq\":27,\"pr"u8.ToArray()] };
        }

        var report = AuditVerifier.Verify(sources, Keys);

        Assert.False(report.Valid, tampering);
        var problem = Assert.Single(report.Problems, p => p.Fatal);
        Assert.Equal((reason, "r1", segment, record), (problem.Reason, problem.Replica, problem.Segment!.Value, problem.Seq!.Value));
    }

    [Fact]
    public async Task Verify_OpenSegmentEndingInATornLine_IsValidWithANote()
    {
        var chain = await ChainAsync();
        var sources = chain.Sources();
        sources[3] = sources[3] with { Content = [.. sources[3].Content, .. "{\"seq\":44,\"prev\":\"ab"u8.ToArray()] };

        var report = AuditVerifier.Verify(sources, Keys);

        Assert.True(report.Valid, string.Join("\n", report.Problems));
        var note = Assert.Single(report.Problems);
        Assert.Equal((AuditProblems.TornTail, false, 44L), (note.Reason, note.Fatal, note.Seq));
    }

    [Fact]
    public async Task Verify_AnchorBeyondTheEndOfTheChain_FindsTheTruncation()
    {
        var chain = await ChainAsync();
        await chain.CheckpointAsync();
        var anchor = chain.Segments[3][^1];

        // The tail, the last checkpoint with it, is cut off; the SIEM kept that checkpoint.
        chain.Segments[3].RemoveRange(2, chain.Segments[3].Count - 2);
        var sources = chain.Sources();
        sources.Add(new AuditSource("siem-export.jsonl", Encoding.UTF8.GetBytes("{\"unrelated\":true}\n" + anchor + "\n")));

        var report = AuditVerifier.Verify(sources, Keys);

        Assert.False(report.Valid);
        var problem = Assert.Single(report.Problems);
        Assert.Equal((AuditProblems.Truncated, "r1", 42L), (problem.Reason, problem.Replica, problem.Seq));
        Assert.Contains("says the chain had 43 lines and 33 records; it ends at line 41", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_AnchorInsideTheChain_Passes_AndOneForAMissingReplicaFails()
    {
        var chain = await ChainAsync();
        var anchor = chain.Segments[1][6];
        var stranger = await new AuditChainBuilder("r9", TestKeys.AuditSigner, T0).ClosedSegmentsAsync(1, 2);
        var anchors = new AuditSource("anchors.jsonl", Encoding.UTF8.GetBytes(anchor + "\n" + stranger.Segments[0][^1] + "\n"));

        var report = AuditVerifier.Verify([.. chain.Sources(), anchors], Keys);

        var problem = Assert.Single(report.Problems);
        Assert.Equal((AuditProblems.ReplicaMissing, "r9"), (problem.Reason, problem.Replica));
    }

    [Fact]
    public async Task Verify_SameSegmentFromTwoPlaces_CountsOnce_ButDifferentCopiesConflict()
    {
        var chain = await ChainAsync();
        var sources = chain.Sources();
        var copy = sources[0] with { Name = "s3://bucket/r1/r1.00000001.jsonl" };

        Assert.True(AuditVerifier.Verify([.. sources, copy], Keys).Valid);

        var edited = copy with { Content = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(copy.Content).Replace("\"allow\"", "\"deny\"", StringComparison.Ordinal)) };
        var report = AuditVerifier.Verify([.. sources, edited], Keys);
        Assert.Equal(AuditProblems.SegmentConflict, Assert.Single(report.Problems).Reason);
    }

    [Fact]
    public async Task Verify_CheckpointSignedWithAKeyOfAnotherPurpose_IsRefused()
    {
        var chain = await ChainAsync();
        var jwks = JsonNode.Parse(AuditKeys.Jwks(TestKeys.AuditSigner.PublicJwk))!;
        jwks["keys"]![0]![AuditKeys.PurposeMember] = "bundle";

        var report = AuditVerifier.Verify(chain.Sources(), AuditKeys.Parse(jwks.ToJsonString()));

        var problem = Assert.Single(report.Problems);
        Assert.Equal((AuditProblems.CheckpointInvalid, 7L), (problem.Reason, problem.Seq));
        Assert.Contains("is published for purpose \"bundle\", not \"audit\"", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_KeyWithoutAPurpose_IsAccepted()
    {
        var chain = await ChainAsync();

        Assert.True(AuditVerifier.Verify(chain.Sources(), AuditKeys.Parse(TestKeys.Jwks.ToJson())).Valid);
    }

    [Theory]
    [InlineData("not json", "not a valid JWKS")]
    [InlineData("{\"keys\": 3}", "\"keys\" array")]
    public void AuditKeys_NotAJwks_IsAFormatError(string json, string message)
    {
        var error = Assert.Throws<FormatException>(() => AuditKeys.Parse(json));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_NoSegments_IsRefused()
    {
        var report = AuditVerifier.Verify([new AuditSource("empty.jsonl", "{\"a\":1}\n"u8.ToArray())], Keys);

        Assert.False(report.Valid);
        Assert.Contains(report.Problems, p => p.Reason == AuditProblems.NoSegments);
    }
}
