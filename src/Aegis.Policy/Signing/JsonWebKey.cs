using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aegis.Policy.Signing;

/// <summary>A public JWK (RFC 8037: kty OKP, crv Ed25519) with the purpose Aegis publishes it for.</summary>
public sealed record JsonWebKey
{
    [JsonPropertyName("kty")]
    public required string Kty { get; init; }

    [JsonPropertyName("crv")]
    public string? Crv { get; init; }

    [JsonPropertyName("x")]
    public string? X { get; init; }

    [JsonPropertyName("kid")]
    public string? Kid { get; init; }

    [JsonPropertyName("use")]
    public string? Use { get; init; }

    [JsonPropertyName("alg")]
    public string? Alg { get; init; }

    /// <summary>
    /// What the key may sign (<see cref="KeyPurposes.Member"/>: bundle, token, audit or receipt). A key without it
    /// is refused by every verifier.
    /// </summary>
    [JsonPropertyName(KeyPurposes.Member)]
    public string? Purpose { get; init; }

    /// <summary>The JWK for a raw 32-byte Ed25519 public key, with its RFC 7638 thumbprint as kid.</summary>
    public static JsonWebKey ForEd25519(ReadOnlySpan<byte> publicKey, KeyPurpose purpose, string? kid = null)
    {
        var x = Base64Url.Encode(publicKey);
        return new JsonWebKey { Kty = "OKP", Crv = "Ed25519", X = x, Kid = kid ?? Thumbprint(x), Use = "sig", Alg = "EdDSA", Purpose = purpose.Name() };
    }

    /// <summary>RFC 7638 thumbprint of an OKP key: sha-256 over {"crv","kty","x"} in that order.</summary>
    public static string Thumbprint(string x) =>
        Base64Url.Encode(SHA256.HashData(Encoding.UTF8.GetBytes($"{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{x}\"}}")));

    /// <summary>Whether this is a usable Ed25519 key published for exactly <paramref name="purpose"/>.</summary>
    public bool Serves(KeyPurpose purpose) => string.Equals(Purpose, purpose.Name(), StringComparison.Ordinal);
}

/// <summary>Whether a key set holds a key for a kid and purpose.</summary>
public enum KeyLookupStatus
{
    /// <summary>An Ed25519 key with that kid, published for that purpose only.</summary>
    Found,

    /// <summary>No usable Ed25519 key has that kid.</summary>
    UnknownKid,

    /// <summary>The key is published for another purpose, for none, or for more than one.</summary>
    PurposeMismatch,
}

/// <summary>The outcome of <see cref="JsonWebKeySet.Find"/>: the raw public key, or why there is none.</summary>
public readonly record struct KeyLookup(KeyLookupStatus Status, byte[]? PublicKey, string Message);

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

    /// <summary>The keys published for <paramref name="purpose"/> (for display and for handing one purpose on).</summary>
    public JsonWebKeySet For(KeyPurpose purpose) => new([.. Keys.Where(k => k.Serves(purpose))]);

    /// <summary>
    /// Whether <paramref name="kid"/> is published for <paramref name="purpose"/> and no other (no decoding: for
    /// checks on every call).
    /// </summary>
    public bool Publishes(string kid, KeyPurpose purpose)
    {
        var found = false;
        foreach (var key in Keys)
        {
            if (key.Kid == kid)
            {
                if (!key.Serves(purpose))
                {
                    return false;
                }

                found = true;
            }
        }

        return found;
    }

    /// <summary>
    /// The raw Ed25519 public key for <paramref name="kid"/> when it is published for <paramref name="purpose"/>.
    /// A key published for another purpose, without a purpose, or (by kid or by key) for two purposes at once is a
    /// <see cref="KeyLookupStatus.PurposeMismatch"/>: one key is never accepted for two jobs.
    /// </summary>
    public KeyLookup Find(string kid, KeyPurpose purpose)
    {
        byte[]? match = null;
        string? other = null;
        var missingPurpose = false;
        foreach (var key in Keys)
        {
            if (key.Kid != kid || key.Kty != "OKP" || key.Crv != "Ed25519" || key.X is null
                || !Base64Url.TryDecode(key.X, out var raw) || raw.Length != 32)
            {
                continue;
            }

            if (key.Serves(purpose))
            {
                match = raw;
            }
            else if (key.Purpose is null)
            {
                missingPurpose = true;
            }
            else
            {
                other = key.Purpose;
            }
        }

        if (match is null && other is null && !missingPurpose)
        {
            return new KeyLookup(KeyLookupStatus.UnknownKid, null, $"key \"{kid}\" is not in the JWKS");
        }

        if (match is not null && other is null && !missingPurpose && !PublishedElsewhere(match, purpose, out other))
        {
            return new KeyLookup(KeyLookupStatus.Found, match, "");
        }

        var expected = purpose.Name();
        return new KeyLookup(KeyLookupStatus.PurposeMismatch, null,
            missingPurpose && match is null && other is null
                ? $"key \"{kid}\" has no {KeyPurposes.Member}; keys without a purpose are refused ({expected} keys carry \"{KeyPurposes.Member}\": \"{expected}\")"
                : match is null
                ? $"key \"{kid}\" is published for {other}, not {expected}"
                : $"key \"{kid}\" is also published for {other ?? "no purpose"}; a key that serves two purposes is refused for both");
    }

    // The same raw key under another kid with another purpose is still one key serving two purposes.
    private bool PublishedElsewhere(byte[] raw, KeyPurpose purpose, out string? other)
    {
        var x = Base64Url.Encode(raw);
        foreach (var key in Keys)
        {
            if (key.X == x && key.Kty == "OKP" && key.Crv == "Ed25519" && !key.Serves(purpose))
            {
                other = key.Purpose ?? "no purpose";
                return true;
            }
        }

        other = null;
        return false;
    }
}
