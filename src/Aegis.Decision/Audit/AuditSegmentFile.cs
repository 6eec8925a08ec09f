using System.Globalization;
using System.Text.Json;
using Aegis.Policy.Audit;

namespace Aegis.Decision.Audit;

/// <summary>Where the chain stands: the last line's seq and hash, records so far, and what the last checkpoint covered.</summary>
internal struct AuditChainState
{
    public long Seq;
    public string Prev;
    public long Records;
    public long PreviousCovers;
}

/// <summary>What a crash left at the end of a segment and was cut off at open.</summary>
internal sealed record AuditTornTail(long Offset, byte[] Cut, string Reason);

/// <summary>
/// The segment files of one replica in the audit folder, named <c>{replica}.{segment:D8}.jsonl</c>. One is active and
/// appended to; a closed one (its last line a closing checkpoint) is made read-only and never opened for writing
/// again. Opening reads the newest segment back, cuts an incomplete or unreadable tail, and resumes its chain.
/// </summary>
internal sealed class AuditSegmentFile : IDisposable
{
    private FileStream _stream;

    private AuditSegmentFile(FileStream stream, string path, long number, DateTimeOffset openedAt)
    {
        _stream = stream;
        Path = path;
        Number = number;
        OpenedAt = openedAt;
    }

    public string Path { get; private set; }
    public long Number { get; private set; }
    public DateTimeOffset OpenedAt { get; private set; }
    public long Size => _stream.Length;

    public static string FileName(string replica, long number) => $"{replica}.{number.ToString("D8", CultureInfo.InvariantCulture)}.jsonl";

    /// <summary>The segment numbers of <paramref name="replica"/> in <paramref name="directory"/>, ascending.</summary>
    public static List<(long Number, string Path)> List(string directory, string replica)
    {
        var found = new List<(long, string)>();
        foreach (var path in Directory.EnumerateFiles(directory, replica + ".*.jsonl"))
        {
            var name = System.IO.Path.GetFileName(path);
            var middle = name.AsSpan(replica.Length + 1, name.Length - replica.Length - 1 - ".jsonl".Length);
            if (middle.Length == 8 && long.TryParse(middle, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                found.Add((number, path));
            }
        }

        found.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return found;
    }

    /// <summary>
    /// Opens the newest segment for appending, or starts the next one when it is closed (segment 1 when there is
    /// none; an empty file means the caller writes the header). Returns the chain state and the tail that had to be
    /// cut, if any.
    /// </summary>
    public static AuditSegmentFile Open(string directory, string replica, DateTimeOffset now, out AuditChainState state, out AuditTornTail? torn)
    {
        Directory.CreateDirectory(directory);
        state = new AuditChainState { Prev = AuditChain.Genesis };
        torn = null;
        var segments = List(directory, replica);
        while (segments.Count > 0)
        {
            var (number, path) = segments[^1];
            var content = File.ReadAllBytes(path);
            if (Recover(content, out state, out var closed, out var keep) is { } cut)
            {
                torn = new AuditTornTail(keep, cut, keep == 0 ? "the segment's header was never completely written" : "a crash left an incomplete or unreadable last line");
            }

            if (keep == 0)
            {
                // Nothing of this segment survived, not even its header: start it again from the one before.
                SaveCut(path, 0, content);
                File.Delete(path);
                segments.RemoveAt(segments.Count - 1);
                if (segments.Count == 0)
                {
                    state = new AuditChainState { Prev = AuditChain.Genesis };
                    return Create(directory, replica, 1, now);
                }

                var previous = File.ReadAllBytes(segments[^1].Path);
                if (Recover(previous, out state, out closed, out _) is not null || !closed)
                {
                    throw new InvalidDataException($"{segments[^1].Path}: not closed, yet segment {number} after it was started");
                }

                return Create(directory, replica, number, now);
            }

            if (closed)
            {
                return Create(directory, replica, number + 1, now);
            }

            if (torn is not null)
            {
                SaveCut(path, keep, content.AsSpan((int)keep).ToArray());
            }

            var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read, bufferSize: 0);
            if (torn is not null)
            {
                stream.SetLength(keep);
                stream.Flush(flushToDisk: true);
            }

            stream.Seek(0, SeekOrigin.End);
            return new AuditSegmentFile(stream, path, number, now);
        }

        return Create(directory, replica, 1, now);
    }

    /// <summary>Creates segment <paramref name="number"/>, empty: the log writes its header with the chain state.</summary>
    private static AuditSegmentFile Create(string directory, string replica, long number, DateTimeOffset now)
    {
        var path = System.IO.Path.Combine(directory, FileName(replica, number));
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        return new AuditSegmentFile(stream, path, number, now);
    }

    /// <summary>True for a new segment, whose header the log writes first.</summary>
    public bool IsEmpty => _stream.Length == 0;

    /// <summary>Appends bytes (whole lines).</summary>
    public void Write(ReadOnlySpan<byte> bytes) => _stream.Write(bytes);

    /// <summary>fsync: the lines written so far survive a crash of the process or the machine.</summary>
    public void Sync() => _stream.Flush(flushToDisk: true);

    /// <summary>Closes this segment for good (read-only) and opens <paramref name="next"/> in its place.</summary>
    public string SealAndStart(long next, DateTimeOffset now)
    {
        var sealedPath = Seal();
        var path = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, FileName(ReplicaOf(Path, Number), next));
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        Path = path;
        Number = next;
        OpenedAt = now;
        return sealedPath;
    }

    /// <summary>Closes the file and makes it read-only; returns its path.</summary>
    public string Seal()
    {
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        return Path;
    }

    public void Dispose() => _stream.Dispose();

    private static string ReplicaOf(string path, long number)
    {
        var name = System.IO.Path.GetFileName(path);
        return name[..^(FileName("", number).Length)];
    }

    /// <summary>
    /// Reads a segment's chain state. Returns the bytes to cut (an incomplete last line, or complete lines at the end
    /// that are not chain lines), with <paramref name="keep"/> the length that stays; null when the tail is clean.
    /// </summary>
    internal static byte[]? Recover(byte[] content, out AuditChainState state, out bool closed, out long keep)
    {
        state = new AuditChainState { Prev = AuditChain.Genesis };
        closed = false;
        var start = 0;
        while (start < content.Length)
        {
            // Only complete lines count; whatever follows the last newline is the torn tail.
            var end = Array.IndexOf(content, (byte)'\n', start);
            if (end < 0 || !TryRead(content.AsMemory(start, end - start), ref state, out var lineClosed, start == 0))
            {
                break;
            }

            closed = lineClosed;
            start = end + 1;
        }

        keep = start;
        return keep == content.Length ? null : content.AsSpan((int)keep).ToArray();
    }

    private static bool TryRead(ReadOnlyMemory<byte> line, ref AuditChainState state, out bool closed, bool first)
    {
        closed = false;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("seq", out var seq) || seq.ValueKind != JsonValueKind.Number
                || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                return false;
            }

            var kind = type.GetString();
            if (first != (kind == AuditLineType.Segment))
            {
                return false;
            }

            switch (kind)
            {
                case AuditLineType.Segment:
                    state.Records = root.GetProperty("records").GetInt64();
                    state.PreviousCovers = root.GetProperty("checkpoint").GetInt64();
                    break;
                case AuditLineType.Checkpoint:
                    state.PreviousCovers = root.GetProperty("covers").GetInt64();
                    closed = root.TryGetProperty("closed", out var c) && c.ValueKind == JsonValueKind.True;
                    break;
                default:
                    state.Records++;
                    break;
            }

            state.Seq = seq.GetInt64();
            state.Prev = AuditChain.Hash(line.Span);
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    // The cut bytes are evidence: kept beside the segment (never appended to again), their hash in the repair record.
    private static void SaveCut(string path, long offset, byte[] cut)
    {
        if (cut.Length > 0)
        {
            File.WriteAllBytes($"{path}.cut-{offset.ToString(CultureInfo.InvariantCulture)}", cut);
        }
    }
}
