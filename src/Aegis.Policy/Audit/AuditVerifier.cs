using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Aegis.Policy.Audit;

/// <summary>Why verification failed; the names double as exit reasons in scripts and log fields.</summary>
public static class AuditProblems
{
    public const string NotJson = "audit_line_unreadable";
    public const string Missing = "audit_record_missing";
    public const string OutOfOrder = "audit_record_out_of_order";
    public const string Edited = "audit_record_edited";
    public const string BadHeader = "audit_segment_header_invalid";
    public const string SegmentMissing = "audit_segment_missing";
    public const string SegmentCut = "audit_segment_truncated";
    public const string SegmentConflict = "audit_segment_conflict";
    public const string CheckpointInvalid = "audit_checkpoint_invalid";
    public const string Truncated = "audit_log_truncated";
    public const string ReplicaMissing = "audit_replica_missing";
    public const string TornTail = "audit_torn_tail";
    public const string NoSegments = "audit_no_segments";
}

/// <summary>One file or object to verify: where it came from (a path or a URL) and its bytes.</summary>
public sealed record AuditSource(string Name, byte[] Content);

/// <summary>Something wrong with a log: what (a <see cref="AuditProblems"/> constant), where, and whether it fails verification.</summary>
public sealed record AuditProblem
{
    public required string Reason { get; init; }
    public required string Message { get; init; }
    public string? Replica { get; init; }
    public long? Segment { get; init; }
    public string? Source { get; init; }

    /// <summary>The first bad line's seq, when one is named.</summary>
    public long? Seq { get; init; }

    /// <summary>False for notes that do not fail verification (an open segment's torn tail after a crash).</summary>
    public bool Fatal { get; init; } = true;

    public override string ToString()
    {
        var where = new StringBuilder();
        if (Source is not null)
        {
            where.Append(Source).Append(": ");
        }

        if (Replica is not null)
        {
            where.Append(CultureInfo.InvariantCulture, $"replica {Replica}");
            if (Segment is { } s)
            {
                where.Append(CultureInfo.InvariantCulture, $" segment {s}");
            }

            if (Seq is { } q)
            {
                where.Append(CultureInfo.InvariantCulture, $" record {q}");
            }

            where.Append(": ");
        }

        return $"{where}{Message} [{Reason}]";
    }
}

/// <summary>What one replica's chain holds.</summary>
public sealed record ReplicaChain
{
    public required string Replica { get; init; }
    public long FirstSegment { get; init; }
    public long LastSegment { get; init; }
    public long Lines { get; init; }
    public long Records { get; init; }
    public long Checkpoints { get; init; }

    /// <summary>Seq of the last line under a verified checkpoint signature.</summary>
    public long SignedThrough { get; init; }

    /// <summary>True when the last segment ends with a closing checkpoint (rotated or shut down cleanly).</summary>
    public bool Closed { get; init; }
}

/// <summary>The outcome of <see cref="AuditVerifier.Verify"/>.</summary>
public sealed record AuditReport(IReadOnlyList<ReplicaChain> Replicas, IReadOnlyList<AuditProblem> Problems)
{
    /// <summary>True when no problem fails verification.</summary>
    public bool Valid => Problems.All(p => !p.Fatal);

    /// <summary>Every line hash of the chains that was asked for, by (replica, seq).</summary>
    internal Dictionary<(string, long), string> Hashes { get; init; } = [];
}

/// <summary>
/// Verifies the segments of any number of replicas, in any order, from files or buckets: each replica's segments
/// must run 1, 2, 3, ... with no gap, every line must continue the chain, every checkpoint must be signed by an
/// audit key and sign exactly the chain before it, every segment but the last must end with its closing
/// checkpoint, and every anchor (a checkpoint seen elsewhere, such as in the SIEM) must lie inside the chain it
/// names. The first bad line of each replica is reported with its replica, segment and seq.
/// </summary>
public static class AuditVerifier
{
    /// <summary>Verifies <paramref name="sources"/>: segment files, plus any other files whose checkpoint lines serve as anchors.</summary>
    public static AuditReport Verify(IEnumerable<AuditSource> sources, AuditKeys keys)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var problems = new List<AuditProblem>();
        var segments = new List<Segment>();
        var anchors = new List<(AuditCheckpoint Checkpoint, string Source)>();
        foreach (var source in sources)
        {
            var lines = SplitLines(source.Content, out var torn);
            if (lines.Count == 0 && torn is null)
            {
                continue;
            }

            if (Header(lines.Count > 0 ? lines[0] : torn!.Value) is { } header)
            {
                segments.Add(new Segment(source, header.Replica, header.Number, lines, torn));
                continue;
            }

            CollectAnchors(source, lines, keys, anchors, problems);
        }

        if (segments.Count == 0)
        {
            problems.Add(new AuditProblem { Reason = AuditProblems.NoSegments, Message = "no audit segment found (a segment's first line is its {\"type\":\"segment\"} header)" });
            return new AuditReport([], problems);
        }

        var needed = anchors.Select(a => (a.Checkpoint.Replica, a.Checkpoint.Covers)).ToHashSet();
        var hashes = new Dictionary<(string, long), string>();
        var chains = new List<ReplicaChain>();
        foreach (var group in segments.GroupBy(s => s.Replica, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var ordered = Deduplicate(group, problems);
            if (ordered is null)
            {
                continue;
            }

            chains.Add(new ChainVerifier(group.Key, keys, needed, hashes, problems).Run(ordered));
        }

        foreach (var (anchor, source) in anchors)
        {
            CheckAnchor(anchor, source, chains, hashes, problems);
        }

        return new AuditReport(chains, problems) { Hashes = hashes };
    }

    /// <summary>Splits on '\n'; a last piece without its newline is the torn tail.</summary>
    internal static List<ReadOnlyMemory<byte>> SplitLines(byte[] content, out ReadOnlyMemory<byte>? torn)
    {
        var lines = new List<ReadOnlyMemory<byte>>();
        var start = 0;
        while (start < content.Length)
        {
            var end = Array.IndexOf(content, (byte)'\n', start);
            if (end < 0)
            {
                break;
            }

            lines.Add(content.AsMemory(start, end - start));
            start = end + 1;
        }

        torn = start < content.Length ? content.AsMemory(start) : (ReadOnlyMemory<byte>?)null;
        return lines;
    }

    private static (string Replica, long Number)? Header(ReadOnlyMemory<byte> line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            return root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("type", out var t) && t.ValueEquals(AuditLineType.Segment)
                && root.TryGetProperty("replica", out var r) && r.ValueKind == JsonValueKind.String
                && root.TryGetProperty("segment", out var n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt64(out var number)
                ? (r.GetString()!, number)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void CollectAnchors(AuditSource source, List<ReadOnlyMemory<byte>> lines, AuditKeys keys, List<(AuditCheckpoint, string)> anchors, List<AuditProblem> problems)
    {
        var found = 0;
        for (var i = 0; i < lines.Count; i++)
        {
            try
            {
                using var doc = JsonDocument.Parse(lines[i]);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("type", out var t) || !t.ValueEquals(AuditLineType.Checkpoint))
                {
                    continue;
                }

                found++;
                if (AuditCheckpoint.Verify(doc.RootElement, keys, out var error) is { } checkpoint)
                {
                    anchors.Add((checkpoint, $"{source.Name}:{i + 1}"));
                }
                else
                {
                    problems.Add(new AuditProblem { Reason = AuditProblems.CheckpointInvalid, Message = "anchor checkpoint: " + error, Source = $"{source.Name}:{i + 1}" });
                }
            }
            catch (JsonException)
            {
                // Anchor files are exports that may hold other lines; only checkpoints count.
            }
        }

        if (found == 0)
        {
            problems.Add(new AuditProblem { Reason = AuditProblems.BadHeader, Message = "neither a segment (its first line is not a segment header) nor a file of checkpoints", Source = source.Name });
        }
    }

    private static List<Segment>? Deduplicate(IGrouping<string, Segment> group, List<AuditProblem> problems)
    {
        var result = new List<Segment>();
        foreach (var byNumber in group.GroupBy(s => s.Number).OrderBy(g => g.Key))
        {
            var first = byNumber.First();
            foreach (var other in byNumber.Skip(1))
            {
                // The same segment from the local folder and from the bucket: fine while identical. A still-open local
                // segment may have grown past the copy; nothing uploads an open segment, so any difference is a conflict.
                if (!other.Source.Content.AsSpan().SequenceEqual(first.Source.Content))
                {
                    problems.Add(new AuditProblem
                    {
                        Reason = AuditProblems.SegmentConflict,
                        Message = $"two different copies of this segment: {first.Source.Name} and {other.Source.Name}",
                        Replica = group.Key,
                        Segment = byNumber.Key,
                        Source = other.Source.Name,
                    });
                    return null;
                }
            }

            result.Add(first);
        }

        return result;
    }

    private static void CheckAnchor(AuditCheckpoint anchor, string source, List<ReplicaChain> chains, Dictionary<(string, long), string> hashes, List<AuditProblem> problems)
    {
        var chain = chains.FirstOrDefault(c => c.Replica == anchor.Replica);
        if (chain is null)
        {
            problems.Add(new AuditProblem { Reason = AuditProblems.ReplicaMissing, Message = $"a checkpoint says replica {anchor.Replica} had {anchor.Covers} lines; none of its segments were given", Replica = anchor.Replica, Source = source });
        }
        else if (!hashes.TryGetValue((anchor.Replica, anchor.Covers), out var hash))
        {
            problems.Add(new AuditProblem
            {
                Reason = AuditProblems.Truncated,
                Message = $"truncated: a checkpoint ({source}) says the chain had {anchor.Covers} lines and {anchor.Count} records; it ends at line {chain.Lines}",
                Replica = anchor.Replica,
                Segment = anchor.Segment,
                Seq = chain.Lines + 1,
                Source = source,
            });
        }
        else if (hash != anchor.Head)
        {
            problems.Add(new AuditProblem
            {
                Reason = AuditProblems.Edited,
                Message = $"replaced: a checkpoint ({source}) signed a different line {anchor.Covers} than the one in the log",
                Replica = anchor.Replica,
                Segment = anchor.Segment,
                Seq = anchor.Covers,
                Source = source,
            });
        }
    }

    private sealed record Segment(AuditSource Source, string Replica, long Number, List<ReadOnlyMemory<byte>> Lines, ReadOnlyMemory<byte>? Torn);

    /// <summary>Walks one replica's segments in order; stops at the first fatal problem.</summary>
    private sealed class ChainVerifier(string replica, AuditKeys keys, HashSet<(string, long)> needed, Dictionary<(string, long), string> hashes, List<AuditProblem> problems)
    {
        // Line hashes and record counts since the last checkpoint line: what the next checkpoint may cover.
        private readonly Dictionary<long, (string Hash, long Records)> _window = [];
        private long _seq;
        private string _prev = AuditChain.Genesis;
        private long _records;
        private long _checkpoints;
        private long _signedThrough;
        private long _previousCovers;
        private long _lastCheckpointLine;

        public ReplicaChain Run(List<Segment> segments)
        {
            var closed = false;
            var expectedNumber = 1L;
            for (var i = 0; i < segments.Count; i++)
            {
                var segment = segments[i];
                if (segment.Number != expectedNumber)
                {
                    Fail(AuditProblems.SegmentMissing, expectedNumber == 1
                        ? $"segments 1 to {segment.Number - 1} are missing (the chain starts at segment {segment.Number})"
                        : $"segment {expectedNumber}{(segment.Number - expectedNumber > 1 ? $" to {segment.Number - 1}" : "")} is missing (removed); the chain jumps from segment {expectedNumber - 1} to {segment.Number}",
                        expectedNumber, segment.Source.Name, _seq + 1);
                    return Summary(segments, closed);
                }

                var last = i == segments.Count - 1;
                if (!Walk(segment, last, out closed))
                {
                    return Summary(segments, closed);
                }

                if (!last && !closed)
                {
                    Fail(AuditProblems.SegmentCut, $"truncated: the segment does not end with its closing checkpoint; lines after {_seq} were cut", segment.Number, segment.Source.Name, _seq + 1);
                    return Summary(segments, closed);
                }

                expectedNumber++;
            }

            return Summary(segments, closed);
        }

        private bool Walk(Segment segment, bool lastSegment, out bool closed)
        {
            closed = false;
            for (var index = 0; index < segment.Lines.Count; index++)
            {
                var line = segment.Lines[index];
                if (closed)
                {
                    Fail(AuditProblems.SegmentCut, "lines follow the segment's closing checkpoint", segment.Number, segment.Source.Name, _seq + 1);
                    return false;
                }

                JsonDocument doc;
                try
                {
                    doc = JsonDocument.Parse(line);
                }
                catch (JsonException e)
                {
                    Fail(AuditProblems.NotJson, "not a JSON object: " + e.Message, segment.Number, segment.Source.Name, _seq + 1);
                    return false;
                }

                using (doc)
                {
                    if (!Line(doc.RootElement, segment, index, out closed))
                    {
                        return false;
                    }
                }

                var hash = AuditChain.Hash(line.Span);
                _prev = hash;
                _window[_seq] = (hash, _records);
                if (needed.Contains((replica, _seq)))
                {
                    hashes[(replica, _seq)] = hash;
                }
            }

            if (segment.Torn is { } torn)
            {
                var note = $"ends in an incomplete line of {torn.Length} bytes after record {_seq}: a crash while writing (the server cuts it and records a repair at its next start)";
                problems.Add(new AuditProblem { Reason = AuditProblems.TornTail, Message = note, Replica = replica, Segment = segment.Number, Source = segment.Source.Name, Seq = _seq + 1, Fatal = !lastSegment || closed });
                return lastSegment && !closed;
            }

            return true;
        }

        private bool Line(JsonElement root, Segment segment, int index, out bool closed)
        {
            closed = false;
            var expected = _seq + 1;
            var seq = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("seq", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var n) ? n : -1;
            if (seq != expected)
            {
                var found = seq < 0 ? "no seq" : seq.ToString(CultureInfo.InvariantCulture);
                Fail(seq > expected ? AuditProblems.Missing : AuditProblems.OutOfOrder,
                    $"expected record {expected}, found {found} (a record was removed, inserted or moved)", segment.Number, segment.Source.Name, expected);
                return false;
            }

            if (!root.TryGetProperty("prev", out var prev) || !prev.ValueEquals(_prev))
            {
                if (seq == 1)
                {
                    Fail(AuditProblems.Edited, "the first record does not start the chain (records before it were removed, or it was edited)", segment.Number, segment.Source.Name, 1);
                }
                else if (index == 0)
                {
                    Fail(AuditProblems.Edited, $"the segment does not continue the chain: the last line of segment {segment.Number - 1} (record {seq - 1}) was edited, or that segment was replaced", segment.Number - 1, segment.Source.Name, seq - 1);
                }
                else
                {
                    Fail(AuditProblems.Edited, $"edited: record {seq - 1}'s hash no longer matches the prev recorded by record {seq}", segment.Number, segment.Source.Name, seq - 1);
                }

                return false;
            }

            var type = root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if ((index == 0) != (type == AuditLineType.Segment))
            {
                Fail(AuditProblems.BadHeader, index == 0 ? "the segment's first line is not its header" : "a segment header in the middle of a segment", segment.Number, segment.Source.Name, seq);
                return false;
            }

            if (index == 0 && (!root.TryGetProperty("replica", out var r) || !r.ValueEquals(replica) || Number(root, "segment") != segment.Number))
            {
                Fail(AuditProblems.BadHeader, "the header names another replica or segment", segment.Number, segment.Source.Name, seq);
                return false;
            }

            if (index == 0 && (Number(root, "records") != _records || Number(root, "checkpoint") != _previousCovers))
            {
                Fail(AuditProblems.BadHeader, $"the header's records/checkpoint ({Number(root, "records")}/{Number(root, "checkpoint")}) differ from the chain's ({_records}/{_previousCovers})", segment.Number, segment.Source.Name, seq);
                return false;
            }

            _seq = seq;
            switch (type)
            {
                case AuditLineType.Decision or AuditLineType.Settlement or AuditLineType.Repair:
                    _records++;
                    break;
                case AuditLineType.Checkpoint:
                    return Checkpoint(root, segment, out closed);
                case AuditLineType.Segment:
                    break;
                default:
                    Fail(AuditProblems.NotJson, $"unknown line type \"{type}\"", segment.Number, segment.Source.Name, seq);
                    return false;
            }

            return true;
        }

        private bool Checkpoint(JsonElement root, Segment segment, out bool closed)
        {
            closed = false;
            if (AuditCheckpoint.Verify(root, keys, out var error) is not { } checkpoint)
            {
                Fail(AuditProblems.CheckpointInvalid, error!, segment.Number, segment.Source.Name, _seq);
                return false;
            }

            string? wrong = checkpoint.Replica != replica ? $"it names replica {checkpoint.Replica}"
                : checkpoint.Segment != segment.Number ? $"it names segment {checkpoint.Segment}"
                : checkpoint.Covers >= _seq || !_window.TryGetValue(checkpoint.Covers, out var head) || checkpoint.Covers < _lastCheckpointLine ? $"it covers line {checkpoint.Covers}, not a line between the previous checkpoint and itself"
                : head.Hash != checkpoint.Head ? $"it signs a different line {checkpoint.Covers} (that line, or one before it, was edited)"
                : head.Records != checkpoint.Count ? $"it counts {checkpoint.Count} records through line {checkpoint.Covers}; the log has {head.Records}"
                : checkpoint.Previous != _previousCovers ? $"it follows a checkpoint covering line {checkpoint.Previous}; the previous one in the log covers {_previousCovers} (a checkpoint was removed)"
                : checkpoint.Closed && checkpoint.Covers != _seq - 1 ? "a closing checkpoint must sign every line before it"
                : null;
            if (wrong is not null)
            {
                Fail(AuditProblems.CheckpointInvalid, "checkpoint does not fit the chain: " + wrong, segment.Number, segment.Source.Name, _seq);
                return false;
            }

            _checkpoints++;
            _signedThrough = checkpoint.Covers;
            _previousCovers = checkpoint.Covers;
            _lastCheckpointLine = _seq;
            foreach (var old in _window.Keys.Where(k => k < _seq).ToList())
            {
                _window.Remove(old);
            }

            closed = checkpoint.Closed;
            return true;
        }

        private static long? Number(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

        private void Fail(string reason, string message, long segment, string source, long seq) =>
            problems.Add(new AuditProblem { Reason = reason, Message = message, Replica = replica, Segment = segment, Source = source, Seq = seq });

        private ReplicaChain Summary(List<Segment> segments, bool closed) => new()
        {
            Replica = replica,
            FirstSegment = segments[0].Number,
            LastSegment = segments[^1].Number,
            Lines = _seq,
            Records = _records,
            Checkpoints = _checkpoints,
            SignedThrough = _signedThrough,
            Closed = closed,
        };
    }
}
