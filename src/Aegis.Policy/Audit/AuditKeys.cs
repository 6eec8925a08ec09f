using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Audit;

/// <summary>
/// The keys audit checkpoints may be signed with: the Ed25519 keys of a JWKS whose <c>aegis_purpose</c> member is
/// <c>"audit"</c>. A key published for another purpose (bundle, token, receipt), or for none, is never accepted, so
/// a leaked bundle key cannot forge an audit log (as bundle and token verification refuse keys without a purpose).
/// </summary>
public sealed class AuditKeys
{
    /// <summary>The JWK member naming a key's purpose.</summary>
    public const string PurposeMember = KeyPurposes.Member;

    /// <summary>The purpose of audit checkpoint keys.</summary>
    public const string Purpose = "audit";

    private readonly Dictionary<string, byte[]> _keys;
    private readonly Dictionary<string, string> _refused;

    private AuditKeys(Dictionary<string, byte[]> keys, Dictionary<string, string> refused)
    {
        _keys = keys;
        _refused = refused;
    }

    /// <summary>Key ids that may sign checkpoints.</summary>
    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    /// <summary>Reads a JWKS document; throws <see cref="FormatException"/> when it is not one.</summary>
    public static AuditKeys Parse(string json)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("a JWKS must be a JSON object with a \"keys\" array");
        }
        catch (JsonException e)
        {
            throw new FormatException("not a valid JWKS: " + e.Message, e);
        }

        if (root["keys"] is not JsonArray array)
        {
            throw new FormatException("a JWKS must be an object with a \"keys\" array");
        }

        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var refused = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in array.OfType<JsonObject>())
        {
            var kid = Text(key, "kid");
            if (kid is null)
            {
                continue;
            }

            var purpose = key[PurposeMember];
            if (Text(key, PurposeMember) != Purpose)
            {
                refused[kid] = purpose is null
                    ? $"is published for no purpose (no {PurposeMember} member), not \"{Purpose}\""
                    : $"is published for purpose \"{purpose.ToJsonString().Trim('"')}\", not \"{Purpose}\"";
                continue;
            }

            if (Text(key, "kty") == "OKP" && Text(key, "crv") == "Ed25519" && Text(key, "x") is { } x && Base64Url.TryDecode(x, out var raw) && raw.Length == 32)
            {
                keys[kid] = raw;
            }
            else
            {
                refused[kid] = "is not an Ed25519 key (kty OKP, crv Ed25519)";
            }
        }

        return new AuditKeys(keys, refused);
    }

    /// <summary>The raw public key for <paramref name="kid"/>, or null when no audit key has that id.</summary>
    public byte[]? Find(string kid) => _keys.TryGetValue(kid, out var key) ? key : null;

    /// <summary>Why <paramref name="kid"/> is not an audit key, for messages.</summary>
    public string WhyNot(string? kid) =>
        kid is not null && _refused.TryGetValue(kid, out var reason) ? reason : "is not in the JWKS";

    /// <summary>A JWKS document publishing <paramref name="publicKey"/> as an audit key.</summary>
    public static string Jwks(JsonWebKey publicKey)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        var key = JsonSerializer.SerializeToNode(publicKey)!.AsObject();
        foreach (var name in key.Where(p => p.Value is null).Select(p => p.Key).ToList())
        {
            key.Remove(name);
        }

        key[PurposeMember] = Purpose;
        return new JsonObject { ["keys"] = new JsonArray(key) }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static string? Text(JsonObject o, string name) =>
        o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}
