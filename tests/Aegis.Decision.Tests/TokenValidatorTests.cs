using System.Text;
using System.Text.Json;
using Aegis.Contracts.State;
using Aegis.Decision.Identity;
using Aegis.State;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Decision.Tests;

public class TokenValidatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);

    private static async Task<string> RawTokenAsync(object claims, ISigner signer, string alg = "EdDSA")
    {
        var header = Base64Url.Encode(JsonSerializer.SerializeToUtf8Bytes(new { alg, kid = signer.KeyId, typ = "JWT" }));
        var payload = Base64Url.Encode(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = await signer.SignAsync(Encoding.ASCII.GetBytes($"{header}.{payload}"));
        return $"{header}.{payload}.{Base64Url.Encode(signature)}";
    }

    private static Dictionary<string, object> Claims(DateTimeOffset iat, DateTimeOffset exp, string agent = "a1", string? sub = null) => new()
    {
        ["iss"] = "test", ["aud"] = AgentTokens.DefaultAudience, ["sub"] = sub ?? agent, ["agent_id"] = agent, ["tenant"] = "acme", ["scope"] = "pay read",
        ["iat"] = iat.ToUnixTimeSeconds(), ["exp"] = exp.ToUnixTimeSeconds(), ["jti"] = "j1",
    };

    private static Dictionary<string, object> With(Dictionary<string, object> claims, string name, object? value)
    {
        if (value is null)
        {
            claims.Remove(name);
        }
        else
        {
            claims[name] = value;
        }

        return claims;
    }

    /// <summary>A validator over <see cref="TestKeys.Jwks"/> whose revocation list (in memory) has been read once.</summary>
    private static TokenValidator Validator(TimeProvider time, Func<JsonWebKeySet>? keys = null, ITokenIdStore? store = null)
    {
        var list = new RevocationList(store ?? new InMemoryTokenIdStore(time), time, Microsoft.Extensions.Logging.Abstractions.NullLogger<RevocationList>.Instance) { MaxStaleness = Timeout.InfiniteTimeSpan };
        list.RefreshAsync().GetAwaiter().GetResult();
        return new TokenValidator(keys ?? (() => TestKeys.Jwks), TestKeys.Expected, list, time);
    }

    public static TheoryData<string, string> Cases() => new()
    {
        { "valid", "" },
        { "expired", TokenRejection.Expired },
        { "expired within skew", "" },
        { "issued in the future", TokenRejection.NotYetValid },
        { "lifetime 16 minutes", TokenRejection.LifetimeTooLong },
        { "alg HS256", TokenRejection.AlgorithmNotAllowed },
        { "alg none", TokenRejection.AlgorithmNotAllowed },
        { "unknown kid", TokenRejection.UnknownKid },
        { "tampered payload", TokenRejection.SignatureInvalid },
        { "sub differs from agent_id", TokenRejection.ClaimsInvalid },
        { "missing tenant", TokenRejection.ClaimsInvalid },
        { "no iss", TokenRejection.IssuerInvalid },
        { "another iss", TokenRejection.IssuerInvalid },
        { "no aud", TokenRejection.AudienceInvalid },
        { "another aud", TokenRejection.AudienceInvalid },
        { "aud array naming us", "" },
        { "aud array not naming us", TokenRejection.AudienceInvalid },
        { "signed with the bundle key", TokenRejection.KeyPurposeMismatch },
        { "signed with the audit key", TokenRejection.KeyPurposeMismatch },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Validate_Case_AcceptsOrNamesTheReason(string name, string reason)
    {
        var signer = TestKeys.TokenSigner;
        var time = new ManualTime(T0);
        var token = name switch
        {
            "expired" => await RawTokenAsync(Claims(T0.AddMinutes(-20), T0.AddMinutes(-6)), signer),
            "expired within skew" => await RawTokenAsync(Claims(T0.AddMinutes(-10), T0.AddSeconds(-20)), signer),
            "issued in the future" => await RawTokenAsync(Claims(T0.AddMinutes(2), T0.AddMinutes(10)), signer),
            "lifetime 16 minutes" => await RawTokenAsync(Claims(T0, T0.AddMinutes(16)), signer),
            "alg HS256" => await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), signer, "HS256"),
            "alg none" => (await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), signer, "none")).Split('.')[0] + "." + (await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), signer)).Split('.')[1] + ".",
            "unknown kid" => await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), TestKeys.Stranger),
            "no iss" => await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "iss", null), signer),
            "another iss" => await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "iss", "evil-issuer"), signer),
            "no aud" => await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "aud", null), signer),
            "another aud" => await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "aud", "some-other-service"), signer),
            "aud array naming us" => await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "aud", new[] { "x", AgentTokens.DefaultAudience }), signer),
            "aud array not naming us" => await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "aud", new[] { "x", "y" }), signer),
            "signed with the bundle key" => await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), TestKeys.Signer),
            "signed with the audit key" => await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), TestKeys.AuditSigner),
            "tampered payload" => Tamper(await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), signer)),
            "sub differs from agent_id" => await RawTokenAsync(Claims(T0, T0.AddMinutes(5), sub: "someone-else"), signer),
            "missing tenant" => await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "tenant", null), signer),
            _ => await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), signer),
        };

        var check = Validator(time).Validate(token);

        Assert.Equal(reason, check.Reason ?? "");
        if (reason.Length == 0)
        {
            Assert.Equal(("a1", "acme"), (check.Token!.AgentId, check.Token.Tenant));
            Assert.Equal(["pay", "read"], check.Token.Scopes);
        }
    }

    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var payload = Encoding.UTF8.GetString(Convert.FromBase64String(parts[1].Replace('-', '+').Replace('_', '/').PadRight((parts[1].Length + 3) / 4 * 4, '=')));
        return $"{parts[0]}.{Base64Url.Encode(Encoding.UTF8.GetBytes(payload.Replace("acme", "evil", StringComparison.Ordinal)))}.{parts[2]}";
    }

    [Fact]
    public async Task Validate_CachedToken_StillExpiresAndStillNeedsItsKey()
    {
        var time = new ManualTime(T0);
        var keys = TestKeys.Jwks;
        var validator = Validator(time, () => keys);
        var token = await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), TestKeys.TokenSigner);

        Assert.Null(validator.Validate(token).Reason);
        time.Now = T0.AddMinutes(6);
        Assert.Equal(TokenRejection.Expired, validator.Validate(token).Reason);

        time.Now = T0;
        Assert.Null(validator.Validate(token).Reason);
        keys = new JsonWebKeySet([TestKeys.TokenSigner.PublicJwk with { Purpose = "bundle" }]);
        Assert.Equal(TokenRejection.KeyPurposeMismatch, validator.Validate(token).Reason);
        keys = new JsonWebKeySet([]);
        Assert.Equal(TokenRejection.UnknownKid, validator.Validate(token).Reason);
    }

    [Fact]
    public async Task Validate_KeyPublishedWithoutPurpose_IsRefused()
    {
        var token = await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), TestKeys.TokenSigner);
        var check = Validator(new ManualTime(T0), () => new JsonWebKeySet([TestKeys.TokenSigner.PublicJwk with { Purpose = null }])).Validate(token);

        Assert.Equal(TokenRejection.KeyPurposeMismatch, check.Reason);
        Assert.Contains("aegis_purpose", check.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_RevokedByJtiOrByAgent_RefusedEvenWhenCached()
    {
        var time = new ManualTime(T0);
        var store = new InMemoryTokenIdStore(time);
        var list = new RevocationList(store, time, Microsoft.Extensions.Logging.Abstractions.NullLogger<RevocationList>.Instance) { MaxStaleness = Timeout.InfiniteTimeSpan };
        await list.RefreshAsync();
        var validator = new TokenValidator(() => TestKeys.Jwks, TestKeys.Expected, list, time);
        var first = await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5)), "jti", "first"), TestKeys.TokenSigner);
        var other = await RawTokenAsync(With(Claims(T0, T0.AddMinutes(5), agent: "a2"), "jti", "other"), TestKeys.TokenSigner);
        Assert.Null(validator.Validate(first).Reason);

        await store.RevokeAsync(new TokenRevocation { Jti = "first", Tenant = "globex", RevokedAt = T0, ForgetAt = T0.AddMinutes(16) });
        await list.RefreshAsync();
        Assert.Null(validator.Validate(first).Reason);

        await store.RevokeAsync(new TokenRevocation { Jti = "first", RevokedAt = T0, ForgetAt = T0.AddMinutes(16) });
        await list.RefreshAsync();
        Assert.Equal(TokenRejection.Revoked, validator.Validate(first).Reason);

        // By agent: every token issued at or before the revocation; a token minted after it works.
        time.Now = T0.AddMinutes(1);
        await store.RevokeAsync(new TokenRevocation { Tenant = "acme", AgentId = "a2", RevokedAt = time.Now, ForgetAt = time.Now.AddMinutes(16) });
        await list.RefreshAsync();
        Assert.Equal(TokenRejection.Revoked, validator.Validate(other).Reason);
        var later = await RawTokenAsync(With(Claims(T0.AddMinutes(2), T0.AddMinutes(7), agent: "a2"), "jti", "later"), TestKeys.TokenSigner);
        time.Now = T0.AddMinutes(2);
        Assert.Null(validator.Validate(later).Reason);
    }

    [Fact]
    public async Task Validate_RevocationListNeverReadOrStale_RefusesEveryToken()
    {
        var time = new ManualTime(T0);
        var store = new FailingStore(new InMemoryTokenIdStore(time));
        var list = new RevocationList(store, time, Microsoft.Extensions.Logging.Abstractions.NullLogger<RevocationList>.Instance) { MaxStaleness = TimeSpan.FromSeconds(5) };
        var validator = new TokenValidator(() => TestKeys.Jwks, TestKeys.Expected, list, time);
        var token = await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), TestKeys.TokenSigner);

        store.Down = true;
        Assert.False(await list.RefreshAsync());
        Assert.Equal(TokenRejection.RevocationUnknown, validator.Validate(token).Reason);

        store.Down = false;
        Assert.True(await list.RefreshAsync());
        Assert.Null(validator.Validate(token).Reason);

        // Within the bound a failed refresh keeps the last copy; past it, nothing is believed.
        store.Down = true;
        time.Now = T0.AddSeconds(4);
        Assert.False(await list.RefreshAsync());
        Assert.Null(validator.Validate(token).Reason);
        time.Now = T0.AddSeconds(6);
        Assert.Equal(TokenRejection.RevocationUnknown, validator.Validate(token).Reason);
    }

    /// <summary>A token-id store whose reads fail while <see cref="Down"/>, as Redis does when unreachable.</summary>
    private sealed class FailingStore(ITokenIdStore inner) : ITokenIdStore
    {
        public bool Down { get; set; }

        public ValueTask<bool> TryConsumeAsync(string jti, DateTimeOffset expiresAt, CancellationToken cancellationToken = default) => inner.TryConsumeAsync(jti, expiresAt, cancellationToken);

        public ValueTask RevokeAsync(TokenRevocation revocation, CancellationToken cancellationToken = default) => inner.RevokeAsync(revocation, cancellationToken);

        public ValueTask<RevocationSnapshot?> ListRevocationsAsync(long sinceVersion, DateTimeOffset now, CancellationToken cancellationToken = default) =>
            Down ? throw new StateStoreUnavailableException("Redis is unavailable: test") : inner.ListRevocationsAsync(sinceVersion, now, cancellationToken);
    }

    [Fact]
    public async Task MintAsync_ThenVerify_RoundTripsTheClaims()
    {
        var grant = new TokenGrant { Issuer = "test", Audience = AgentTokens.DefaultAudience, Tenant = "acme", AgentId = "bot-1", Org = "org", Scopes = ["a", "b"] };
        var token = await AgentTokens.MintAsync(TestKeys.TokenSigner, grant, T0, TimeSpan.FromMinutes(15));
        var check = AgentTokens.Verify(token, TestKeys.Jwks, T0.AddMinutes(1), TestKeys.Expected);
        Assert.Equal(("test", AgentTokens.DefaultAudience, "bot-1", "acme", "org"), (check.Token!.Issuer, check.Token.Audience, check.Token.AgentId, check.Token.Tenant, check.Token.Org));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => AgentTokens.MintAsync(TestKeys.TokenSigner, grant, T0, TimeSpan.FromMinutes(16)));

        // The minter refuses a key of another purpose, so no tool of ours can put a bundle key under a token.
        var e = await Assert.ThrowsAsync<ArgumentException>(() => AgentTokens.MintAsync(TestKeys.Signer, grant, T0, TimeSpan.FromMinutes(5)));
        Assert.Contains("bundle key", e.Message, StringComparison.Ordinal);
    }
}
