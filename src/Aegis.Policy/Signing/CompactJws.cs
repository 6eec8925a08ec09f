using System.Text;
using System.Text.Json;

namespace Aegis.Policy.Signing;

/// <summary>A parsed compact JWS (header.payload.signature) before its signature is checked.</summary>
public sealed class CompactJws
{
    private CompactJws(string algorithm, string? keyId, byte[] payload, byte[] signingInput, byte[] signature)
    {
        Algorithm = algorithm;
        KeyId = keyId;
        Payload = payload;
        SigningInput = signingInput;
        Signature = signature;
    }

    public string Algorithm { get; }
    public string? KeyId { get; }
    public byte[] Payload { get; }

    /// <summary>ASCII of b64url(header) "." b64url(payload): the bytes the signature covers.</summary>
    public byte[] SigningInput { get; }

    public byte[] Signature { get; }

    /// <summary>Signs <paramref name="payload"/> with header {alg, kid, typ: JWT}.</summary>
    public static async ValueTask<string> SignAsync(ReadOnlyMemory<byte> payload, ISigner signer, CancellationToken cancellationToken = default)
    {
        signer = signer is IRotatingSigner rotating ? rotating.Current : signer;
        var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["alg"] = signer.Algorithm,
            ["kid"] = signer.KeyId,
            ["typ"] = "JWT",
        });
        var signingInput = Base64Url.Encode(header) + "." + Base64Url.Encode(payload.Span);
        var signature = await signer.SignAsync(Encoding.ASCII.GetBytes(signingInput), cancellationToken).ConfigureAwait(false);
        return signingInput + "." + Base64Url.Encode(signature);
    }

    /// <summary>Parses a compact JWS; returns the reason when it is malformed.</summary>
    public static bool TryParse(string token, out CompactJws jws, out string error)
    {
        jws = null!;
        var first = token.IndexOf('.');
        var second = first < 0 ? -1 : token.IndexOf('.', first + 1);
        if (first < 0 || second < 0 || token.IndexOf('.', second + 1) >= 0)
        {
            error = "not a compact JWS (three base64url parts separated by '.')";
            return false;
        }

        if (!Base64Url.TryDecode(token.AsSpan(0, first), out var header)
            || !Base64Url.TryDecode(token.AsSpan(first + 1, second - first - 1), out var payload)
            || !Base64Url.TryDecode(token.AsSpan(second + 1), out var signature))
        {
            error = "a JWS part is not valid base64url";
            return false;
        }

        string? alg = null, kid = null;
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            // JsonDocument decodes strings only when read, where invalid UTF-8 would throw instead of failing here.
            error = "the JWS header is not valid JSON (not UTF-8)";
            return false;
        }

        try
        {
            using var doc = JsonDocument.Parse(header);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "the JWS header is not a JSON object";
                return false;
            }

            if (doc.RootElement.TryGetProperty("alg", out var a) && a.ValueKind == JsonValueKind.String)
            {
                alg = a.GetString();
            }

            if (doc.RootElement.TryGetProperty("kid", out var k) && k.ValueKind == JsonValueKind.String)
            {
                kid = k.GetString();
            }

            if (doc.RootElement.TryGetProperty("crit", out _))
            {
                error = "the JWS header has critical extensions (crit), which are not supported";
                return false;
            }
        }
        catch (JsonException)
        {
            error = "the JWS header is not valid JSON";
            return false;
        }

        if (alg is null)
        {
            error = "the JWS header has no alg";
            return false;
        }

        jws = new CompactJws(alg, kid, payload, Encoding.ASCII.GetBytes(token[..second]), signature);
        error = "";
        return true;
    }

    /// <summary>Checks an EdDSA signature with a raw Ed25519 public key. Any other alg fails.</summary>
    public bool VerifyEd25519(ReadOnlySpan<byte> publicKey) =>
        Algorithm == "EdDSA" && Ed25519Verifier.Verify(publicKey, SigningInput, Signature);
}
