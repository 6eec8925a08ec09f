using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Tokens;

/// <summary>
/// What one organisation key may mint for, as stored in the org-key Secret (one data entry per key id). The key
/// itself is never stored: only a salted SHA-256 of it, which suffices because keys are 256 random bits (a
/// password hash's slowness protects guessable secrets, which these are not).
/// </summary>
public sealed record OrgKeyGrant(
    [property: JsonPropertyName("hash")] string Hash,
    [property: JsonPropertyName("org")] string Org,
    [property: JsonPropertyName("tenants")] IReadOnlyList<string> Tenants,
    [property: JsonPropertyName("agents")] IReadOnlyList<string> Agents,
    [property: JsonPropertyName("scopes")] IReadOnlyList<string> Scopes)
{
    /// <summary>Whether <paramref name="agentId"/> is allowed: listed, or the list holds "*".</summary>
    public bool AllowsAgent(string agentId) => Agents.Contains("*") || Agents.Contains(agentId);
}

/// <summary>Organisation keys: the presented form <c>aegis-ok.{id}.{secret}</c>, and its salted hash.</summary>
public static class OrgKeys
{
    private const string Prefix = "aegis-ok.";
    private const string HashScheme = "sha256";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    // Compared against when the key id is unknown, so an unknown id costs the same time as a wrong secret.
    private static readonly string DummyHash = HashSecret("unknown", RandomNumberGenerator.GetBytes(16));

    /// <summary>Key ids are DNS labels: they name Secret data entries and appear in logs.</summary>
    public static bool IsValidId(string id) => System.Text.RegularExpressions.Regex.IsMatch(id, "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");

    /// <summary>A new key: the text to hand to the organisation (shown once) and the grant to store.</summary>
    public static (string Key, OrgKeyGrant Grant) Create(string id, string org, IReadOnlyList<string> tenants, IReadOnlyList<string> agents, IReadOnlyList<string> scopes)
    {
        if (!IsValidId(id))
        {
            throw new ArgumentException($"key id \"{id}\" must be a DNS label (lowercase letters, digits, '-')", nameof(id));
        }

        var secret = Base64Url.Encode(RandomNumberGenerator.GetBytes(32));
        return (Prefix + id + "." + secret, new OrgKeyGrant(HashSecret(secret, RandomNumberGenerator.GetBytes(16)), org, tenants, agents, scopes));
    }

    /// <summary>Splits a presented key into id and secret; false when it does not have the form.</summary>
    public static bool TryParse(string presented, out string id, out string secret)
    {
        id = secret = "";
        if (!presented.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = presented[Prefix.Length..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == rest.Length - 1 || !IsValidId(rest[..dot]))
        {
            return false;
        }

        (id, secret) = (rest[..dot], rest[(dot + 1)..]);
        return true;
    }

    /// <summary>Constant-time check of <paramref name="secret"/> against a stored hash; a null hash (unknown id) never matches.</summary>
    public static bool Matches(string secret, string? storedHash)
    {
        var parts = (storedHash ?? DummyHash).Split('$');
        byte[] salt, expected;
        try
        {
            if (parts.Length != 3 || parts[0] != HashScheme)
            {
                return false;
            }

            (salt, expected) = (Convert.FromBase64String(parts[1]), Convert.FromBase64String(parts[2]));
        }
        catch (FormatException)
        {
            return false;
        }

        var actual = Digest(secret, salt);
        return CryptographicOperations.FixedTimeEquals(actual, expected) && storedHash is not null;
    }

    /// <summary>The grant as stored in the Secret.</summary>
    public static byte[] Serialize(OrgKeyGrant grant) => JsonSerializer.SerializeToUtf8Bytes(grant, Json);

    /// <summary>Parses a stored grant; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static OrgKeyGrant Parse(byte[] stored)
    {
        try
        {
            var grant = JsonSerializer.Deserialize<OrgKeyGrant>(stored, Json);
            return grant is { Hash: not null, Org: not null, Tenants: not null, Agents: not null, Scopes: not null }
                ? grant
                : throw new FormatException("an org-key entry needs hash, org, tenants, agents and scopes");
        }
        catch (JsonException e)
        {
            throw new FormatException("an org-key entry is not valid JSON: " + e.Message, e);
        }
    }

    private static string HashSecret(string secret, byte[] salt) =>
        $"{HashScheme}${Convert.ToBase64String(salt)}${Convert.ToBase64String(Digest(secret, salt))}";

    private static byte[] Digest(string secret, byte[] salt) => SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(secret)]);
}
