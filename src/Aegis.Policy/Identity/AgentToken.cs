using System.Text.Json;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Identity;

/// <summary>The verified claims of an agent token (DESIGN.md "Identity").</summary>
public sealed record AgentToken(
    string Issuer,
    string AgentId,
    string Tenant,
    string? Org,
    IReadOnlyList<string> Scopes,
    string Jti,
    DateTimeOffset IssuedAt,
    DateTimeOffset ExpiresAt,
    string KeyId,
    string? Use = null,
    string? Tool = null,
    string? ArgsDigest = null)
{
    /// <summary>Longest lifetime an agent token may have.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(15);

    /// <summary>True for tokens that may be used once (override tokens carry <c>use: "once"</c>).</summary>
    public bool SingleUse => Use == "once";
}

/// <summary>Why a token was refused; the names double as decision reasons and metric labels.</summary>
public static class TokenRejection
{
    public const string Missing = "token_missing";
    public const string Malformed = "token_malformed";
    public const string AlgorithmNotAllowed = "token_alg_not_allowed";
    public const string UnknownKid = "token_unknown_kid";
    public const string SignatureInvalid = "token_signature_invalid";
    public const string Expired = "token_expired";
    public const string NotYetValid = "token_not_yet_valid";
    public const string LifetimeTooLong = "token_lifetime_too_long";
    public const string ClaimsInvalid = "token_claims_invalid";
    public const string Revoked = "token_revoked";
}

/// <summary>The outcome of checking a token: its claims, or the reason it was refused.</summary>
public sealed record TokenCheck(AgentToken? Token, string? Reason, string? Message)
{
    public static TokenCheck Fail(string reason, string message) => new(null, reason, message);
}

/// <summary>Mints and verifies agent tokens: compact JWS, alg EdDSA, with the claims of DESIGN.md "Identity".</summary>
public static class AgentTokens
{
    /// <summary>Clock skew tolerated on iat/nbf and exp.</summary>
    public static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);

    /// <summary>Mints a token for <paramref name="agentId"/> of <paramref name="tenant"/>, valid for <paramref name="lifetime"/>.</summary>
    public static async Task<string> MintAsync(
        ISigner signer,
        string issuer,
        string tenant,
        string agentId,
        string? org,
        IEnumerable<string> scopes,
        DateTimeOffset now,
        TimeSpan lifetime,
        IReadOnlyDictionary<string, object>? extraClaims = null,
        CancellationToken cancellationToken = default)
    {
        if (lifetime <= TimeSpan.Zero || lifetime > AgentToken.MaxLifetime)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), $"token lifetime must be within (0, {AgentToken.MaxLifetime}]");
        }

        var claims = new Dictionary<string, object>
        {
            ["iss"] = issuer,
            ["sub"] = agentId,
            ["agent_id"] = agentId,
            ["tenant"] = tenant,
            ["scope"] = string.Join(' ', scopes),
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = (now + lifetime).ToUnixTimeSeconds(),
            ["jti"] = Guid.NewGuid().ToString("N"),
        };
        if (org is not null)
        {
            claims["org"] = org;
        }

        foreach (var (key, value) in extraClaims ?? new Dictionary<string, object>())
        {
            claims[key] = value;
        }

        return await CompactJws.SignAsync(JsonSerializer.SerializeToUtf8Bytes(claims), signer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Verifies signature (EdDSA only, key by kid from <paramref name="keys"/>), time claims (30 s skew, lifetime at most
    /// 15 minutes) and required claims. Revocation and single use are the caller's (they need shared state).
    /// </summary>
    public static TokenCheck Verify(string token, JsonWebKeySet keys, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(token))
        {
            return TokenCheck.Fail(TokenRejection.Missing, "no token was presented");
        }

        if (!CompactJws.TryParse(token, out var jws, out var error))
        {
            return TokenCheck.Fail(TokenRejection.Malformed, error);
        }

        if (jws.Algorithm != "EdDSA")
        {
            return TokenCheck.Fail(TokenRejection.AlgorithmNotAllowed, $"alg \"{jws.Algorithm}\" is not allowed; only EdDSA is");
        }

        if (jws.KeyId is null || keys.FindEd25519(jws.KeyId) is not { } publicKey)
        {
            return TokenCheck.Fail(TokenRejection.UnknownKid, $"the token's key \"{jws.KeyId}\" is not in the JWKS");
        }

        if (!jws.VerifyEd25519(publicKey))
        {
            return TokenCheck.Fail(TokenRejection.SignatureInvalid, "the token's signature does not verify");
        }

        try
        {
            using var doc = JsonDocument.Parse(jws.Payload);
            var root = doc.RootElement;
            var iat = DateTimeOffset.FromUnixTimeSeconds(Number(root, "iat"));
            var exp = DateTimeOffset.FromUnixTimeSeconds(Number(root, "exp"));
            if (root.TryGetProperty("nbf", out var nbf) && nbf.ValueKind == JsonValueKind.Number && DateTimeOffset.FromUnixTimeSeconds(nbf.GetInt64()) > now + Skew)
            {
                return TokenCheck.Fail(TokenRejection.NotYetValid, "the token is not valid yet (nbf)");
            }

            if (iat > now + Skew)
            {
                return TokenCheck.Fail(TokenRejection.NotYetValid, "the token was issued in the future (iat)");
            }

            if (exp <= now - Skew)
            {
                return TokenCheck.Fail(TokenRejection.Expired, $"the token expired at {exp:O}");
            }

            if (exp - iat > AgentToken.MaxLifetime)
            {
                return TokenCheck.Fail(TokenRejection.LifetimeTooLong, $"the token lives {(exp - iat).TotalMinutes:0.#} minutes; at most {AgentToken.MaxLifetime.TotalMinutes} are allowed");
            }

            var agentId = Text(root, "agent_id");
            var sub = Text(root, "sub");
            if (sub != agentId)
            {
                return TokenCheck.Fail(TokenRejection.ClaimsInvalid, "sub and agent_id differ");
            }

            var scopes = root.TryGetProperty("scope", out var scope) && scope.ValueKind == JsonValueKind.String
                ? scope.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                : [];
            return new TokenCheck(
                new AgentToken(
                    Text(root, "iss"),
                    agentId,
                    Text(root, "tenant"),
                    root.TryGetProperty("org", out var org) && org.ValueKind == JsonValueKind.String ? org.GetString() : null,
                    scopes,
                    Text(root, "jti"),
                    iat,
                    exp,
                    jws.KeyId,
                    OptionalText(root, "use"),
                    OptionalText(root, "tool"),
                    OptionalText(root, "args_digest")),
                null,
                null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or ArgumentOutOfRangeException)
        {
            return TokenCheck.Fail(TokenRejection.ClaimsInvalid, e.Message);
        }
    }

    /// <summary>
    /// The digest an override token is bound to: hex sha-256 of the arguments' canonical JSON (keys sorted, no
    /// whitespace), so the same arguments in any key order give the same digest. No arguments digest as <c>{}</c>.
    /// </summary>
    public static string ArgsDigest(JsonElement? args) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            args is { } a ? Bundles.CanonicalJson.Serialize(a) : "{}"u8.ToArray()));

    private static string? OptionalText(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n)
            ? n
            : throw new FormatException($"claim \"{name}\" is missing or not a number");

    private static string Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s
            ? s
            : throw new FormatException($"claim \"{name}\" is missing or empty");
}
