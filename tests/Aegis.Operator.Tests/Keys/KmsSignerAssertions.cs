using Aegis.Operator.Keys;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Tests.Keys;

/// <summary>What every signer must do: sign a bundle and a token that our verifiers accept with its published keys.</summary>
internal static class KmsSignerAssertions
{
    public static async Task SignsVerifiableBundleAndTokenAsync<T>(T signer)
        where T : ISigner, IPublishedKeys
    {
        var keys = signer.PublishedKeys;
        Assert.Equal(signer.KeyId, Assert.Single(keys.Keys).Kid);

        var bundle = await BundleArchive.SignAndPackAsync(BundleCompiler.Compile("acme", []), signer, TestContext.Current.CancellationToken);
        var verified = new BundleVerifier(keys).Verify(bundle, "acme");
        Assert.True(verified.IsValid, verified.Message);
        Assert.Equal(signer.KeyId, verified.Bundle!.KeyId);

        var now = DateTimeOffset.UtcNow;
        var token = await AgentTokens.MintAsync(signer, "aegis-operator", "acme", "agent-1", "acme-org", ["tools:call"], now, TimeSpan.FromMinutes(5), cancellationToken: TestContext.Current.CancellationToken);
        var check = AgentTokens.Verify(token, keys, now);
        Assert.True(check.Token is not null, check.Message);
        Assert.Equal(signer.KeyId, check.Token!.KeyId);

        // And a key that is not the signer's refuses it: the check is real.
        using var other = LocalEd25519Signer.Generate();
        Assert.Equal(TokenRejection.SignatureInvalid, AgentTokens.Verify(token, new JsonWebKeySet([other.PublicJwk with { Kid = signer.KeyId }]), now).Reason);
    }
}
