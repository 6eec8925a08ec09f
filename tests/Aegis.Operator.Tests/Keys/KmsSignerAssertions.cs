using Aegis.Operator.Keys;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Operator.Tests.Keys;

/// <summary>What every bundle signer must do: sign bundles our verifier accepts with its published keys, and nothing else.</summary>
internal static class KmsSignerAssertions
{
    public static async Task SignsVerifiableBundlesOnlyAsync<T>(T signer)
        where T : ISigner, IPublishedKeys
    {
        var keys = signer.PublishedKeys;
        var published = Assert.Single(keys.Keys);
        Assert.Equal((signer.KeyId, "bundle"), (published.Kid, published.Purpose));

        var bundle = await BundleArchive.SignAndPackAsync(BundleCompiler.Compile("acme", []), signer, TestContext.Current.CancellationToken);
        var verified = new BundleVerifier(keys).Verify(bundle, "acme");
        Assert.True(verified.IsValid, verified.Message);
        Assert.Equal(signer.KeyId, verified.Bundle!.KeyId);

        // The same key under a token is refused by purpose (the minter would not even sign one).
        var now = DateTimeOffset.UtcNow;
        var claims = $$"""{"iss":"aegis-operator","aud":"aegis-decision","sub":"a","agent_id":"a","tenant":"acme","iat":{{now.ToUnixTimeSeconds()}},"exp":{{now.AddMinutes(5).ToUnixTimeSeconds()}},"jti":"j"}""";
        var token = await CompactJws.SignAsync(System.Text.Encoding.UTF8.GetBytes(claims), signer, TestContext.Current.CancellationToken);
        Assert.Equal(TokenRejection.KeyPurposeMismatch, AgentTokens.Verify(token, keys, now, TestKeys.Expected with { Issuer = "aegis-operator" }).Reason);
        await Assert.ThrowsAsync<ArgumentException>(() => AgentTokens.MintAsync(signer, new TokenGrant { Issuer = "i", Audience = "a", Tenant = "t", AgentId = "a" }, now, TimeSpan.FromMinutes(1)));

        // And a key that is not the signer's refuses its bundle: the check is real.
        using var other = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        Assert.Equal(BundleRejection.SignatureInvalid, new BundleVerifier(new JsonWebKeySet([other.PublicJwk with { Kid = signer.KeyId }])).Verify(bundle).Reason);
    }
}
