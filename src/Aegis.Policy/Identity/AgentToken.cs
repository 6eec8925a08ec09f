using System.Text.Json;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Identity;

/// <summary>The verified claims of an agent token (DESIGN.md "Identity").</summary>
public sealed record AgentToken
{
    /// <summary>Longest lifetime an agent token may have.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(15);

    public required string Issuer { get; init; }
    public required string Audience { get; init; }
    public required string AgentId { get; init; }
    public required string Tenant { get; init; }
    public string? Org { get; init; }
    public IReadOnlyList<string> Scopes { get; init; } = [];
    public required string Jti { get; init; }
    public required DateTimeOffset IssuedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>The kid of the token key that signed it.</summary>
    public required string KeyId { get; init; }

    /// <summary><c>use</c>: "once" for override tokens.</summary>
    public string? Use { get; init; }

    /// <summary>The tool an override token is bound to.</summary>
    public string? Tool { get; init; }

    /// <summary>The arguments digest an override token is bound to.</summary>
    public string? ArgsDigest { get; init; }

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

    /// <summary>The token's kid is published for another purpose (a bundle or audit key), or for none.</summary>
    public const string KeyPurposeMismatch = "token_" + KeyPurposes.Mismatch;
    public const string SignatureInvalid = "token_signature_invalid";
    public const string Expired = "token_expired";
    public const string NotYetValid = "token_not_yet_valid";
    public const string LifetimeTooLong = "token_lifetime_too_long";
    public const string ClaimsInvalid = "token_claims_invalid";

    /// <summary><c>iss</c> is missing or not the issuer this verifier trusts.</summary>
    public const string IssuerInvalid = "token_issuer_invalid";

    /// <summary><c>aud</c> is missing or does not name this verifier's audience.</summary>
    public const string AudienceInvalid = "token_audience_invalid";
    public const string Revoked = "token_revoked";

    /// <summary>The revocation list cannot be read (never loaded, or stale past its bound): no token is believed.</summary>
    public const string RevocationUnknown = "token_revocation_unknown";
}

/// <summary>The outcome of checking a token: its claims, or the reason it was refused.</summary>
public sealed record TokenCheck(AgentToken? Token, string? Reason, string? Message)
{
    public static TokenCheck Fail(string reason, string message) => new(null, reason, message);
}

/// <summary>The issuer and audience a verifier requires; both are compared exactly.</summary>
public sealed record TokenExpectations
{
    /// <summary>The one <c>iss</c> accepted.</summary>
    public required string Issuer { get; init; }

    /// <summary>The audience that <c>aud</c> (a string or an array of strings) must name.</summary>
    public required string Audience { get; init; }
}

/// <summary>Who a token is for and what it carries, as the minter states it.</summary>
public sealed record TokenGrant
{
    public required string Issuer { get; init; }
    public required string Audience { get; init; }
    public required string Tenant { get; init; }
    public required string AgentId { get; init; }
    public string? Org { get; init; }
    public IReadOnlyList<string> Scopes { get; init; } = [];

    /// <summary>More claims (override tokens: use, tool, args_digest, a fixed jti); they win over the standard ones.</summary>
    public IReadOnlyDictionary<string, object>? Extra { get; init; }
}

/// <summary>Mints and verifies agent tokens: compact JWS, alg EdDSA, with the claims of DESIGN.md "Identity".</summary>
public static class AgentTokens
{
    /// <summary>Clock skew tolerated on iat/nbf and exp.</summary>
    public static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a revocation must be kept: a token issued (iat, up to the skew ahead) before it expires at most
    /// <see cref="AgentToken.MaxLifetime"/> later and is accepted for the skew after that.
    /// </summary>
    public static readonly TimeSpan RevocationRetention = AgentToken.MaxLifetime + Skew + Skew;

    /// <summary>The <c>iss</c> of tokens the operator mints (token service and override tokens), by default.</summary>
    public const string OperatorIssuer = "aegis-operator";

    /// <summary>The <c>iss</c> of development tokens (<c>aegis token</c>), which standalone <c>aegis serve</c> expects.</summary>
    public const string DevelopmentIssuer = "aegis-dev";

    /// <summary>The <c>aud</c> every minter writes and every decision server expects, by default.</summary>
    public const string DefaultAudience = "aegis-decision";

    /// <summary>Mints a token for <paramref name="grant"/>, valid for <paramref name="lifetime"/>, signed with a token key.</summary>
    public static async Task<string> MintAsync(ISigner signer, TokenGrant grant, DateTimeOffset now, TimeSpan lifetime, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(grant);
        if (signer.Purpose != KeyPurpose.Token)
        {
            throw new ArgumentException($"agent tokens are signed with a token key; key {signer.KeyId} is a {signer.Purpose.Name()} key", nameof(signer));
        }

        if (lifetime <= TimeSpan.Zero || lifetime > AgentToken.MaxLifetime)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), $"token lifetime must be within (0, {AgentToken.MaxLifetime}]");
        }

        var claims = new Dictionary<string, object>
        {
            ["iss"] = grant.Issuer,
            ["aud"] = grant.Audience,
            ["sub"] = grant.AgentId,
            ["agent_id"] = grant.AgentId,
            ["tenant"] = grant.Tenant,
            ["scope"] = string.Join(' ', grant.Scopes),
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = (now + lifetime).ToUnixTimeSeconds(),
            ["jti"] = Guid.NewGuid().ToString("N"),
        };
        if (grant.Org is not null)
        {
            claims["org"] = grant.Org;
        }

        foreach (var (key, value) in grant.Extra ?? new Dictionary<string, object>())
        {
            claims[key] = value;
        }

        return await CompactJws.SignAsync(JsonSerializer.SerializeToUtf8Bytes(claims), signer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Verifies signature (EdDSA only, by kid from <paramref name="keys"/>, a key published for tokens only), time
    /// claims (30 s skew, lifetime at most 15 minutes), <c>iss</c> and <c>aud</c> against <paramref name="expected"/>,
    /// and the required claims. Revocation and single use are the caller's (they need shared state).
    /// </summary>
    public static TokenCheck Verify(string token, JsonWebKeySet keys, DateTimeOffset now, TokenExpectations expected)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(expected);
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

        if (jws.KeyId is null)
        {
            return TokenCheck.Fail(TokenRejection.UnknownKid, "the token names no key (kid)");
        }

        var lookup = keys.Find(jws.KeyId, KeyPurpose.Token);
        if (lookup.Status == KeyLookupStatus.PurposeMismatch)
        {
            return TokenCheck.Fail(TokenRejection.KeyPurposeMismatch, "the token's " + lookup.Message);
        }

        if (lookup.PublicKey is not { } publicKey)
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
            return Claims(doc.RootElement, jws.KeyId, now, expected);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or ArgumentOutOfRangeException or InvalidOperationException)
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

    private static TokenCheck Claims(JsonElement root, string keyId, DateTimeOffset now, TokenExpectations expected)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return TokenCheck.Fail(TokenRejection.ClaimsInvalid, "the token's payload is not a JSON object");
        }

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

        var issuer = OptionalText(root, "iss");
        if (!string.Equals(issuer, expected.Issuer, StringComparison.Ordinal))
        {
            return TokenCheck.Fail(TokenRejection.IssuerInvalid, issuer is null
                ? $"the token has no iss; \"{expected.Issuer}\" is required"
                : $"the token's iss \"{issuer}\" is not the trusted issuer \"{expected.Issuer}\"");
        }

        if (!NamesAudience(root, expected.Audience))
        {
            return TokenCheck.Fail(TokenRejection.AudienceInvalid, $"the token's aud does not name \"{expected.Audience}\"");
        }

        var agentId = Text(root, "agent_id");
        if (Text(root, "sub") != agentId)
        {
            return TokenCheck.Fail(TokenRejection.ClaimsInvalid, "sub and agent_id differ");
        }

        var scopes = root.TryGetProperty("scope", out var scope) && scope.ValueKind == JsonValueKind.String
            ? scope.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            : [];
        return new TokenCheck(
            new AgentToken
            {
                Issuer = expected.Issuer,
                Audience = expected.Audience,
                AgentId = agentId,
                Tenant = Text(root, "tenant"),
                Org = OptionalText(root, "org"),
                Scopes = scopes,
                Jti = Text(root, "jti"),
                IssuedAt = iat,
                ExpiresAt = exp,
                KeyId = keyId,
                Use = OptionalText(root, "use"),
                Tool = OptionalText(root, "tool"),
                ArgsDigest = OptionalText(root, "args_digest"),
            },
            null,
            null);
    }

    // RFC 7519 §4.1.3: aud is one string or an array of strings; the verifier must be named in it.
    private static bool NamesAudience(JsonElement root, string audience)
    {
        if (!root.TryGetProperty("aud", out var aud))
        {
            return false;
        }

        if (aud.ValueKind == JsonValueKind.String)
        {
            return aud.ValueEquals(audience);
        }

        if (aud.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in aud.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String && item.ValueEquals(audience))
                {
                    return true;
                }
            }
        }

        return false;
    }

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
