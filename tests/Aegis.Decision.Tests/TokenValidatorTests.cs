using System.Text;
using System.Text.Json;
using Aegis.Decision.Identity;
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

    private static object Claims(DateTimeOffset iat, DateTimeOffset exp, string agent = "a1", string? sub = null) => new
    {
        iss = "test", sub = sub ?? agent, agent_id = agent, tenant = "acme", scope = "pay read", iat = iat.ToUnixTimeSeconds(), exp = exp.ToUnixTimeSeconds(), jti = "j1",
    };

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
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Validate_Case_AcceptsOrNamesTheReason(string name, string reason)
    {
        var signer = TestKeys.Signer;
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
            "tampered payload" => Tamper(await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), signer)),
            "sub differs from agent_id" => await RawTokenAsync(Claims(T0, T0.AddMinutes(5), sub: "someone-else"), signer),
            "missing tenant" => await RawTokenAsync(new { iss = "t", sub = "a", agent_id = "a", iat = T0.ToUnixTimeSeconds(), exp = T0.AddMinutes(5).ToUnixTimeSeconds(), jti = "j" }, signer),
            _ => await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), signer),
        };

        var check = new TokenValidator(() => TestKeys.Jwks, time).Validate(token);

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
        var validator = new TokenValidator(() => keys, time);
        var token = await RawTokenAsync(Claims(T0, T0.AddMinutes(5)), TestKeys.Signer);

        Assert.Null(validator.Validate(token).Reason);
        time.Now = T0.AddMinutes(6);
        Assert.Equal(TokenRejection.Expired, validator.Validate(token).Reason);

        time.Now = T0;
        Assert.Null(validator.Validate(token).Reason);
        keys = new JsonWebKeySet([]);
        Assert.Equal(TokenRejection.UnknownKid, validator.Validate(token).Reason);
    }

    [Fact]
    public async Task MintAsync_ThenVerify_RoundTripsTheClaims()
    {
        var token = await AgentTokens.MintAsync(TestKeys.Signer, "aegis", "acme", "bot-1", "org", ["a", "b"], T0, TimeSpan.FromMinutes(15));
        var check = AgentTokens.Verify(token, TestKeys.Jwks, T0.AddMinutes(1));
        Assert.Equal(("aegis", "bot-1", "acme", "org"), (check.Token!.Issuer, check.Token.AgentId, check.Token.Tenant, check.Token.Org));
        Assert.Throws<ArgumentOutOfRangeException>(() => AgentTokens.MintAsync(TestKeys.Signer, "aegis", "acme", "bot-1", null, [], T0, TimeSpan.FromMinutes(16)).GetAwaiter().GetResult());
    }
}
