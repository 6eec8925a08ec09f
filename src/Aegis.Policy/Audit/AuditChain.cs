using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Audit;

/// <summary>
/// The audit log format: one JSON object per line, each with <c>seq</c> (1, 2, 3, ...) and <c>prev</c>, the hex
/// sha-256 of the previous line's bytes. Every N records a checkpoint line carries a JWS (EdDSA) over its seq and
/// prev, so everything before it is signed. Editing, deleting or reordering a line breaks the chain at that line.
/// </summary>
public static class AuditChain
{
    /// <summary>The <c>prev</c> of the first line.</summary>
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
        writer.WriteStartObject();
        writer.WriteNumber("seq", seq);
        writer.WriteString("prev", prev);
        fields(writer);
        writer.WriteEndObject();
        writer.Flush();
    }

    /// <summary>A checkpoint line: type, time, and a JWS over {seq, prev} by <paramref name="signer"/>.</summary>
    public static async Task<byte[]> CheckpointAsync(long seq, string prev, DateTimeOffset time, ISigner signer, CancellationToken cancellationToken = default)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["seq"] = seq, ["prev"] = prev });
        var jws = await CompactJws.SignAsync(payload, signer, cancellationToken).ConfigureAwait(false);
        return Line(seq, prev, new JsonObject { ["type"] = "checkpoint", ["time"] = time.ToString("O"), ["jws"] = jws });
    }

    /// <summary>Checks a whole log; returns the first bad line or, when all is well, how much is signed.</summary>
    public static AuditVerification Verify(IEnumerable<string> lines, JsonWebKeySet keys)
    {
        var prev = Genesis;
        long expectedSeq = 1, signedThrough = 0, lineNumber = 0, checkpoints = 0;
        foreach (var line in lines)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                return AuditVerification.Bad(lineNumber, expectedSeq, "empty line");
            }

            JsonObject record;
            try
            {
                record = JsonNode.Parse(line)?.AsObject() ?? throw new JsonException("not an object");
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                return AuditVerification.Bad(lineNumber, expectedSeq, "not a JSON object: " + e.Message);
            }

            var seq = record["seq"]?.GetValueKind() == JsonValueKind.Number ? record["seq"]!.GetValue<long>() : -1;
            if (seq != expectedSeq)
            {
                return AuditVerification.Bad(lineNumber, expectedSeq, $"expected record {expectedSeq}, found {(seq < 0 ? "no seq" : seq.ToString(System.Globalization.CultureInfo.InvariantCulture))} (a record was removed, inserted or moved)");
            }

            if (record["prev"]?.ToString() != prev)
            {
                // The record before no longer hashes to what this one chained to: it was edited (or, less
                // likely, this record's prev field was). Name the earlier one, the first that is bad.
                return seq == 1
                    ? AuditVerification.Bad(lineNumber, seq, "the first record does not start the chain (records before it were removed, or it was edited)")
                    : AuditVerification.Bad(lineNumber - 1, seq - 1, $"edited: its hash no longer matches the prev recorded by record {seq}");
            }

            if (record["type"]?.ToString() == "checkpoint")
            {
                if (!CompactJws.TryParse(record["jws"]?.ToString() ?? "", out var jws, out var error))
                {
                    return AuditVerification.Bad(lineNumber, seq, "checkpoint signature is malformed: " + error);
                }

                if (jws.KeyId is null || keys.Find(jws.KeyId, KeyPurpose.Audit).PublicKey is not { } key || !jws.VerifyEd25519(key))
                {
                    return AuditVerification.Bad(lineNumber, seq, $"checkpoint signature does not verify (key \"{jws.KeyId}\")");
                }

                using var signed = JsonDocument.Parse(jws.Payload);
                if (signed.RootElement.GetProperty("seq").GetInt64() != seq || signed.RootElement.GetProperty("prev").GetString() != prev)
                {
                    return AuditVerification.Bad(lineNumber, seq, "checkpoint signs a different position in the log");
                }

                signedThrough = seq;
                checkpoints++;
            }

            prev = Hash(Encoding.UTF8.GetBytes(line));
            expectedSeq++;
        }

        return new AuditVerification(true, null, null, null, expectedSeq - 1, signedThrough, checkpoints);
    }
}

/// <summary>The result of <see cref="AuditChain.Verify"/>: valid with counts, or the first bad line and why.</summary>
public sealed record AuditVerification(bool Valid, long? Line, long? Record, string? Reason, long Records, long SignedThrough, long Checkpoints)
{
    public static AuditVerification Bad(long line, long record, string reason) => new(false, line, record, reason, 0, 0, 0);
}
