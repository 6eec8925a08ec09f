using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Audit;

/// <summary>
/// What a checkpoint signs: that replica <see cref="Replica"/>'s chain had <see cref="Covers"/> lines, the last one
/// hashing to <see cref="Head"/>, of which <see cref="Count"/> were records (decisions, settlements, repairs), and
/// that the checkpoint before it covered <see cref="Previous"/> lines. A closing checkpoint (<see cref="Closed"/>)
/// is the last line of its segment. The checkpoint line itself may come a few lines after <see cref="Covers"/>: the
/// writer signs in the background so a slow KMS never holds up a commit.
/// </summary>
public sealed record AuditCheckpoint
{
    public required string Replica { get; init; }
    public required long Segment { get; init; }

    /// <summary>Seq of the last line signed (the chain head).</summary>
    public required long Covers { get; init; }

    /// <summary>Hex sha-256 of line <see cref="Covers"/>.</summary>
    public required string Head { get; init; }

    /// <summary>Decision, settlement and repair records in lines 1..<see cref="Covers"/>.</summary>
    public required long Count { get; init; }

    /// <summary><see cref="Covers"/> of the previous checkpoint of this replica; 0 for the first.</summary>
    public required long Previous { get; init; }

    /// <summary>True on the last line of a segment (rotation or clean shutdown).</summary>
    public bool Closed { get; init; }

    public required DateTimeOffset Time { get; init; }

    /// <summary>The signed payload: the fields above as a JSON object in a fixed order.</summary>
    public byte[] Payload()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("replica", Replica);
            w.WriteNumber("segment", Segment);
            w.WriteNumber("covers", Covers);
            w.WriteString("head", Head);
            w.WriteNumber("count", Count);
            w.WriteNumber("previous", Previous);
            w.WriteBoolean("closed", Closed);
            w.WriteString("time", Time);
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>The checkpoint as line <paramref name="seq"/> of the chain, with its JWS.</summary>
    public byte[] Line(long seq, string prev, string jws) => AuditChain.Line(seq, prev, new JsonObject
    {
        ["type"] = AuditLineType.Checkpoint,
        ["replica"] = Replica,
        ["segment"] = Segment,
        ["covers"] = Covers,
        ["head"] = Head,
        ["count"] = Count,
        ["previous"] = Previous,
        ["closed"] = Closed,
        ["time"] = Time,
        ["jws"] = jws,
    });

    /// <summary>Signs and returns the checkpoint line.</summary>
    public async Task<byte[]> SignLineAsync(long seq, string prev, ISigner signer, CancellationToken cancellationToken = default) =>
        Line(seq, prev, await SignAsync(signer, cancellationToken).ConfigureAwait(false));

    /// <summary>The compact JWS over <see cref="Payload"/>.</summary>
    public async Task<string> SignAsync(ISigner signer, CancellationToken cancellationToken = default) =>
        await CompactJws.SignAsync(Payload(), signer, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Reads a checkpoint line and checks its signature with an audit key; the fields outside the JWS must equal the
    /// signed ones. Returns null with the reason when it is not a valid checkpoint.
    /// </summary>
    public static AuditCheckpoint? Verify(JsonElement line, AuditKeys keys, out string? error)
    {
        ArgumentNullException.ThrowIfNull(keys);
        error = null;
        var jwsText = line.TryGetProperty("jws", out var j) && j.ValueKind == JsonValueKind.String ? j.GetString()! : "";
        if (!CompactJws.TryParse(jwsText, out var jws, out var parseError))
        {
            error = "checkpoint signature is malformed: " + parseError;
            return null;
        }

        if (jws.KeyId is null || keys.Find(jws.KeyId) is not { } key)
        {
            error = $"checkpoint signature does not verify: key \"{jws.KeyId}\" {keys.WhyNot(jws.KeyId)}";
            return null;
        }

        if (jws.Algorithm != "EdDSA" || !jws.VerifyEd25519(key))
        {
            error = $"checkpoint signature does not verify (key \"{jws.KeyId}\")";
            return null;
        }

        AuditCheckpoint signed;
        try
        {
            using var doc = JsonDocument.Parse(jws.Payload);
            var p = doc.RootElement;
            signed = new AuditCheckpoint
            {
                Replica = p.GetProperty("replica").GetString()!,
                Segment = p.GetProperty("segment").GetInt64(),
                Covers = p.GetProperty("covers").GetInt64(),
                Head = p.GetProperty("head").GetString()!,
                Count = p.GetProperty("count").GetInt64(),
                Previous = p.GetProperty("previous").GetInt64(),
                Closed = p.GetProperty("closed").GetBoolean(),
                Time = DateTimeOffset.Parse(p.GetProperty("time").GetString()!, CultureInfo.InvariantCulture),
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            error = "checkpoint signs something that is not a checkpoint: " + e.Message;
            return null;
        }

        // The unsigned copy of the fields is what people read; it must say what the signature says.
        if (Text(line, "replica") != signed.Replica || Number(line, "segment") != signed.Segment || Number(line, "covers") != signed.Covers
            || Text(line, "head") != signed.Head || Number(line, "count") != signed.Count || Number(line, "previous") != signed.Previous
            || (line.TryGetProperty("closed", out var c) && c.ValueKind is JsonValueKind.True) != signed.Closed)
        {
            error = "checkpoint fields differ from what its signature covers (edited)";
            return null;
        }

        return signed;
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long? Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;
}
