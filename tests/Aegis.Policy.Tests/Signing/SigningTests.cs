using System.Text;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Signing;

public class SigningTests
{
    [Fact]
    public void LocalSigner_PemRoundTrip_KeepsKeyAndKid()
    {
        using var original = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        var pem = original.ExportPem();
        using var loaded = LocalEd25519Signer.FromPem(pem, KeyPurpose.Token);

        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", pem, StringComparison.Ordinal);
        Assert.Equal(original.PublicKey, loaded.PublicKey);
        Assert.Equal(original.KeyId, loaded.KeyId);

        // A PEM carries no purpose: the loader says what the key is for, and its JWK publishes that.
        Assert.Equal(("bundle", "token"), (original.PublicJwk.Purpose, loaded.PublicJwk.Purpose));
    }

    [Fact]
    public void FromPem_NotAKey_Throws()
    {
        var e = Assert.Throws<FormatException>(() => LocalEd25519Signer.FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", KeyPurpose.Bundle));
        Assert.Contains("PKCS#8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Jwk_Rfc8037Example_HasTheRfc7638Thumbprint()
    {
        // RFC 8037 appendix A.2/A.3: the public key and its JWK thumbprint.
        var jwk = JsonWebKey.ForEd25519(Convert.FromHexString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), KeyPurpose.Audit);
        Assert.Equal("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", jwk.X);
        Assert.Equal("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", jwk.Kid);
        Assert.Equal(("OKP", "Ed25519", "EdDSA", "sig", "audit"), (jwk.Kty, jwk.Crv, jwk.Alg, jwk.Use, jwk.Purpose));
        Assert.Contains("\"aegis_purpose\": \"audit\"", new JsonWebKeySet([jwk]).ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompactJws_SignThenVerify_RoundTripsAndRejectsOtherKeys()
    {
        var token = await CompactJws.SignAsync("""{"hello":"world"}"""u8.ToArray(), TestKeys.Signer);

        Assert.True(CompactJws.TryParse(token, out var jws, out var error), error);
        Assert.Equal("EdDSA", jws.Algorithm);
        Assert.Equal(TestKeys.Signer.KeyId, jws.KeyId);
        Assert.Equal("""{"hello":"world"}""", Encoding.UTF8.GetString(jws.Payload));
        Assert.True(jws.VerifyEd25519(TestKeys.Signer.PublicKey));
        Assert.False(jws.VerifyEd25519(TestKeys.Stranger.PublicKey));
    }

    [Theory]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("!!!.e30.AA")]
    [InlineData("e30.e30.AA")]
    [InlineData("bnVsbA.e30.AA")]
    public void CompactJws_Malformed_IsRefused(string token)
    {
        Assert.False(CompactJws.TryParse(token, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void Jwks_ParseAndFind_OnlyReturnsEd25519Keys()
    {
        var json = $$"""
            {"keys":[
              {"kty":"RSA","kid":"rsa","n":"x","e":"AQAB"},
              {"kty":"OKP","crv":"X25519","kid":"x","x":"{{TestKeys.Signer.PublicJwk.X}}"},
              {{System.Text.Json.JsonSerializer.Serialize(TestKeys.Signer.PublicJwk)}}
            ]}
            """;
        var set = JsonWebKeySet.Parse(json);

        Assert.Equal(TestKeys.Signer.PublicKey, set.Find(TestKeys.Signer.KeyId, KeyPurpose.Bundle).PublicKey);
        Assert.Equal(KeyLookupStatus.UnknownKid, set.Find("rsa", KeyPurpose.Bundle).Status);
        Assert.Equal(KeyLookupStatus.UnknownKid, set.Find("x", KeyPurpose.Bundle).Status);
        Assert.Throws<FormatException>(() => JsonWebKeySet.Parse("""{"nokeys":1}"""));
        Assert.Throws<FormatException>(() => JsonWebKeySet.Parse("not json"));
    }

    public static TheoryData<string, KeyPurpose, KeyLookupStatus> PurposeCases() => new()
    {
        { "bundle key for bundles", KeyPurpose.Bundle, KeyLookupStatus.Found },
        { "bundle key for tokens", KeyPurpose.Token, KeyLookupStatus.PurposeMismatch },
        { "bundle key for audit", KeyPurpose.Audit, KeyLookupStatus.PurposeMismatch },
        { "bundle key for receipts", KeyPurpose.Receipt, KeyLookupStatus.PurposeMismatch },
        { "key without purpose", KeyPurpose.Bundle, KeyLookupStatus.PurposeMismatch },
        { "unknown purpose name", KeyPurpose.Bundle, KeyLookupStatus.PurposeMismatch },
        { "same kid published twice", KeyPurpose.Bundle, KeyLookupStatus.PurposeMismatch },
        { "same key under another kid", KeyPurpose.Bundle, KeyLookupStatus.PurposeMismatch },
    };

    [Theory]
    [MemberData(nameof(PurposeCases))]
    public void Find_KeyPurpose_AcceptsOnlyTheOnePurpose(string name, KeyPurpose wanted, KeyLookupStatus expected)
    {
        var jwk = TestKeys.Signer.PublicJwk;
        List<JsonWebKey> keys = name switch
        {
            "key without purpose" => [jwk with { Purpose = null }],
            "unknown purpose name" => [jwk with { Purpose = "Bundle" }],
            "same kid published twice" => [jwk, jwk with { Purpose = "token" }],
            "same key under another kid" => [jwk, jwk with { Kid = "alias", Purpose = "token" }],
            _ => [jwk],
        };

        var lookup = new JsonWebKeySet(keys).Find(jwk.Kid!, wanted);

        Assert.Equal(expected, lookup.Status);
        Assert.Equal(expected == KeyLookupStatus.Found, lookup.PublicKey is not null);
        Assert.Equal(expected == KeyLookupStatus.Found, new JsonWebKeySet(keys).Publishes(jwk.Kid!, wanted) && expected == KeyLookupStatus.Found);
    }

    [Fact]
    public void KeyPurposes_WireNames_RoundTrip()
    {
        Assert.Equal(["bundle", "token", "audit", "receipt"], KeyPurposes.All.Select(p => p.Name()));
        foreach (var purpose in KeyPurposes.All)
        {
            Assert.True(KeyPurposes.TryParse(purpose.Name(), out var parsed));
            Assert.Equal(purpose, parsed);
        }

        Assert.False(KeyPurposes.TryParse("Token", out _));
        Assert.False(KeyPurposes.TryParse(null, out _));
    }
}
