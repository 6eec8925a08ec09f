using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.Policy.Audit;

/// <summary>The <c>type</c> of each audit line (docs/audit.md, "Format").</summary>
public static class AuditLineType
{
    /// <summary>The first line of every segment: replica, segment number; its prev binds the previous segment's last line.</summary>
    public const string Segment = "segment";

    /// <summary>One decision.</summary>
    public const string Decision = "decision";

    /// <summary>A decision's cost as observed after the call ("decision X settled at cost Y").</summary>
    public const string Settlement = "settlement";

    /// <summary>Written at open when a crash left an incomplete last line: what was cut.</summary>
    public const string Repair = "repair";

    /// <summary>A signed statement of how many lines the chain had and the hash of its head.</summary>
    public const string Checkpoint = "checkpoint";
}

/// <summary>
/// The audit log format: one JSON object per line, each with <c>seq</c> (1, 2, 3, ... across all segments of one
/// replica), <c>prev</c> (the hex sha-256 of the previous line's bytes, the segment boundary included) and
/// <c>type</c>. Editing, deleting or reordering a line breaks the chain at that line; signed checkpoints
/// (<see cref="AuditCheckpoint"/>) make cutting lines off the end or removing whole segments detectable.
/// </summary>
public static class AuditChain
{
    /// <summary>The <c>prev</c> of the first line of a replica's first segment.</summary>
    public static readonly string Genesis = new('0', 64);

    /// <summary>Hex sha-256 of a line (without its newline).</summary>
    public static string Hash(ReadOnlySpan<byte> line) => Convert.ToHexStringLower(SHA256.HashData(line));

    /// <summary>Serializes <paramref name="record"/> as one line with <c>seq</c> and <c>prev</c> first.</summary>
    public static byte[] Line(long seq, string prev, JsonObject record)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteLine(writer, seq, prev, w =>
            {
                foreach (var (key, value) in record)
                {
                    w.WritePropertyName(key);
                    if (value is null)
                    {
                        w.WriteNullValue();
                    }
                    else
                    {
                        value.WriteTo(w);
                    }
                }
            });
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes one line (<c>seq</c>, <c>prev</c>, then the fields) to <paramref name="writer"/>; the hot path of the log writer.</summary>
    public static void WriteLine(Utf8JsonWriter writer, long seq, string prev, Action<Utf8JsonWriter> fields)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(fields);
        writer.WriteStartObject();
        writer.WriteNumber("seq", seq);
        writer.WriteString("prev", prev);
        fields(writer);
        writer.WriteEndObject();
        writer.Flush();
    }

    /// <summary>
    /// The first line of a segment. <paramref name="records"/> and <paramref name="checkpoint"/> carry the chain's
    /// record count and last checkpoint's coverage over the boundary, so a writer reopening this segment needs no
    /// earlier one.
    /// </summary>
    public static byte[] SegmentHeader(long seq, string prev, string replica, long segment, long records, long checkpoint, DateTimeOffset time) =>
        Line(seq, prev, new JsonObject
        {
            ["type"] = AuditLineType.Segment,
            ["replica"] = replica,
            ["segment"] = segment,
            ["records"] = records,
            ["checkpoint"] = checkpoint,
            ["time"] = time,
        });

    /// <summary>The line recording that <paramref name="cut"/> (an incomplete or unreadable tail) was cut off at <paramref name="offset"/>.</summary>
    public static byte[] Repair(long seq, string prev, long segment, long offset, ReadOnlySpan<byte> cut, string reason, DateTimeOffset time) =>
        Line(seq, prev, new JsonObject
        {
            ["type"] = AuditLineType.Repair,
            ["time"] = time,
            ["segment"] = segment,
            ["offset"] = offset,
            ["bytes"] = cut.Length,
            ["sha256"] = Hash(cut),
            ["reason"] = reason,
        });

    /// <summary>A valid replica id: what goes into segment headers, file names and object keys.</summary>
    public static bool IsValidReplica(string? replica) =>
        replica is { Length: > 0 and <= 128 } && replica.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && replica[0] != '.';
}
