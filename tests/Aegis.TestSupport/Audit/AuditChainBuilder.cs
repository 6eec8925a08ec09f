using System.Text;
using System.Text.Json.Nodes;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;

namespace Aegis.TestSupport.Audit;

/// <summary>
/// Writes a replica's audit segments line by line as the decision server does (header, records, checkpoints, closing
/// checkpoints), for verifier tests that then tamper with the lines.
/// </summary>
public sealed class AuditChainBuilder(string replica, ISigner signer, DateTimeOffset time)
{
    private long _seq;
    private string _prev = AuditChain.Genesis;
    private long _records;
    private long _previousCovers;
    private long _segment;

    /// <summary>Lines of each segment, in order.</summary>
    public List<List<string>> Segments { get; } = [];

    public string Replica => replica;

    /// <summary>Starts the next segment (its header line).</summary>
    public AuditChainBuilder Segment()
    {
        Segments.Add([]);
        _segment++;
        return Add(AuditChain.SegmentHeader(_seq + 1, _prev, replica, _segment, _records, _previousCovers, time));
    }

    /// <summary>Appends <paramref name="count"/> decision records with ids d{seq}.</summary>
    public AuditChainBuilder Decisions(int count, string effect = "allow")
    {
        for (var i = 0; i < count; i++)
        {
            _records++;
            Add(AuditChain.Line(_seq + 1, _prev, new JsonObject { ["type"] = AuditLineType.Decision, ["decisionId"] = $"d{_seq + 1}", ["effect"] = effect }));
        }

        return this;
    }

    /// <summary>Appends one decision record with these fields (seq, prev and type are added).</summary>
    public AuditChainBuilder Decision(JsonObject fields)
    {
        _records++;
        var line = new JsonObject { ["type"] = AuditLineType.Decision };
        foreach (var (key, value) in fields)
        {
            line[key] = value?.DeepClone();
        }

        return Add(AuditChain.Line(_seq + 1, _prev, line));
    }

    /// <summary>A checkpoint over everything so far (closed: the segment's last line).</summary>
    public async Task<AuditChainBuilder> CheckpointAsync(bool closed = false, ISigner? by = null)
    {
        var checkpoint = new AuditCheckpoint
        {
            Replica = replica,
            Segment = _segment,
            Covers = _seq,
            Head = _prev,
            Count = _records,
            Previous = _previousCovers,
            Closed = closed,
            Time = time,
        };
        _previousCovers = _seq;
        return Add(await checkpoint.SignLineAsync(_seq + 1, _prev, by ?? signer));
    }

    /// <summary><paramref name="segments"/> closed segments of <paramref name="records"/> decisions each, a checkpoint in the middle of each.</summary>
    public async Task<AuditChainBuilder> ClosedSegmentsAsync(int segments, int records)
    {
        for (var s = 0; s < segments; s++)
        {
            Segment().Decisions(records / 2);
            await CheckpointAsync();
            Decisions(records - (records / 2));
            await CheckpointAsync(closed: true);
        }

        return this;
    }

    /// <summary>The segments as verifier sources, named like the server's files.</summary>
    public List<AuditSource> Sources() =>
        [.. Segments.Select((lines, i) => new AuditSource($"{replica}.{i + 1:D8}.jsonl", Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")))))];

    private AuditChainBuilder Add(byte[] line)
    {
        _seq++;
        _prev = AuditChain.Hash(line);
        Segments[^1].Add(Encoding.UTF8.GetString(line));
        return this;
    }
}
