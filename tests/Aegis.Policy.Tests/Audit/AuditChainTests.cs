using System.Text;
using System.Text.Json.Nodes;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Audit;

public class AuditChainTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);

    /// <summary>25 decision records with a checkpoint after every 10 records (so 27 lines, seq 1..27).</summary>
    internal static async Task<List<string>> LogAsync(ISigner signer, int records = 25, int every = 10)
    {
        var lines = new List<string>();
        var prev = AuditChain.Genesis;
        long seq = 0;
        for (var i = 1; i <= records; i++)
        {
            var line = AuditChain.Line(++seq, prev, new JsonObject { ["decisionId"] = $"d{i}", ["effect"] = i % 3 == 0 ? "deny" : "allow" });
            lines.Add(Encoding.UTF8.GetString(line));
            prev = AuditChain.Hash(line);
            if (i % every == 0)
            {
                var checkpoint = await AuditChain.CheckpointAsync(++seq, prev, T0, signer);
                lines.Add(Encoding.UTF8.GetString(checkpoint));
                prev = AuditChain.Hash(checkpoint);
            }
        }

        return lines;
    }

    [Fact]
    public async Task Verify_IntactLog_IsValidAndSignedThroughTheLastCheckpoint()
    {
        var result = AuditChain.Verify(await LogAsync(TestKeys.AuditSigner), TestKeys.Jwks);

        Assert.True(result.Valid, result.Reason);
        Assert.Equal((27L, 22L, 2L), (result.Records, result.SignedThrough, result.Checkpoints));
    }

    public static TheoryData<string, long, string> Tampering() => new()
    {
        // what was done, the record named, a fragment of the reason
        { "edit record 5", 5, "edited" },
        { "delete record 5", 5, "expected record 5, found 6" },
        { "swap records 5 and 6", 5, "expected record 5, found 6" },
        { "delete the first record", 1, "expected record 1, found 2" },
        { "insert a copy of record 5", 6, "expected record 6, found 5" },
        { "forge a checkpoint signature", 11, "checkpoint signature does not verify" },
        { "edit a record and recompute the chain up to a checkpoint", 11, "checkpoint signs a different position" },
        { "garbage line", 7, "not a JSON object" },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public async Task Verify_TamperedLog_NamesTheFirstBadRecord(string tampering, long record, string reason)
    {
        var lines = await LogAsync(TestKeys.AuditSigner);
        switch (tampering)
        {
            case "edit record 5":
                lines[4] = lines[4].Replace("\"allow\"", "\"deny\"", StringComparison.Ordinal);
                break;
            case "delete record 5":
                lines.RemoveAt(4);
                break;
            case "swap records 5 and 6":
                (lines[4], lines[5]) = (lines[5], lines[4]);
                break;
            case "delete the first record":
                lines.RemoveAt(0);
                break;
            case "insert a copy of record 5":
                lines.Insert(4, lines[4]);
                break;
            case "forge a checkpoint signature":
                var forged = await AuditChain.CheckpointAsync(11, JsonNode.Parse(lines[10])!["prev"]!.ToString(), T0, TestKeys.Stranger);
                lines[10] = Encoding.UTF8.GetString(forged);
                break;
            case "edit a record and recompute the chain up to a checkpoint":
                // A careful forger rewrites record 3 and every prev after it; the old checkpoint no longer fits.
                var prev = JsonNode.Parse(lines[2])!["prev"]!.ToString();
                for (var i = 2; i < 10; i++)
                {
                    var node = JsonNode.Parse(lines[i])!.AsObject();
                    node.Remove("seq");
                    node.Remove("prev");
                    if (i == 2)
                    {
                        node["effect"] = "allow";
                    }

                    var line = AuditChain.Line(i + 1, prev, node);
                    lines[i] = Encoding.UTF8.GetString(line);
                    prev = AuditChain.Hash(line);
                }

                var checkpoint = JsonNode.Parse(lines[10])!.AsObject();
                checkpoint["prev"] = prev;
                lines[10] = checkpoint.ToJsonString();
                break;
            case "garbage line":
                lines[6] = "{{{";
                break;
        }

        var result = AuditChain.Verify(lines, TestKeys.Jwks);

        Assert.False(result.Valid, tampering);
        Assert.Equal(record, result.Record);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }
}
