using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aegis.Policy.Signing;

/// <summary>A public JWK (RFC 8037: kty OKP, crv Ed25519).</summary>
public sealed record JsonWebKey(
    [property: JsonPropertyName("kty")] string Kty,
    [property: JsonPropertyName("crv")] string? Crv,
    [property: JsonPropertyName("x")] string? X,
    [property: JsonPropertyName("kid")] string? Kid,
    [property: JsonPropertyName("use")] string? Use,
    [property: JsonPropertyName("alg")] string? Alg)
{
    /// <summary>The JWK for a raw 32-byte Ed25519 public key, with its RFC 7638 thumbprint as kid.</summary>
    public static JsonWebKey ForEd25519(ReadOnlySpan<byte> publicKey, string? kid = null)
    {
        var x = Base64Url.Encode(publicKey);
        return new JsonWebKey("OKP", "Ed25519", x, kid ?? Thumbprint(x), "sig", "EdDSA");
    }

    /// <summary>RFC 7638 thumbprint of an OKP key: sha-256 over {"crv","kty","x"} in that order.</summary>
    public static string Thumbprint(string x) =>
        Base64Url.Encode(SHA256.HashData(Encoding.UTF8.GetBytes($"{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{x}\"}}")));
}

/// <summary>A JWKS document: <c>{"keys": [...]}</c>.</summary>
public sealed record JsonWebKeySet([property: JsonPropertyName("keys")] List<JsonWebKey> Keys)
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Parses a JWKS; throws <see cref="FormatException"/> with the reason when it is not one.</summary>
    public static JsonWebKeySet Parse(string json)
    {
        try
        {
            var set = JsonSerializer.Deserialize<JsonWebKeySet>(json, Options);
            if (set?.Keys is null)
            {
                throw new FormatException("a JWKS must be an object with a \"keys\" array");
            }

            return set;
        }
        catch (JsonException e)
        {
            throw new FormatException("not a valid JWKS: " + e.Message, e);
        }
    }

    /// <summary>Serializes with indentation, for files a person reads.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Whether a key with <paramref name="kid"/> is published (no decoding: for checks on every call).</summary>
    public bool ContainsKeyId(string kid)
    {
        foreach (var key in Keys)
        {
            if (key.Kid == kid)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The raw Ed25519 public key for <paramref name="kid"/>, or null when no usable key has that id.</summary>
    public byte[]? FindEd25519(string kid)
    {
        foreach (var key in Keys)
        {
            if (key.Kid == kid && key.Kty == "OKP" && key.Crv == "Ed25519" && key.X is not null
                && Base64Url.TryDecode(key.X, out var raw) && raw.Length == 32)
            {
                return raw;
            }
        }

        return null;
    }
}
