using System.Text.Json.Nodes;
using Aegis.Policy.Audit;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Signing;

/// <summary>Every verifier refuses a key published for another purpose, with the purpose mismatch named.</summary>
public class KeyPurposeCrossingTests
{
    private static Task<byte[]> BundleAsync(ISigner signer) => BundleArchive.SignAndPackAsync(
        BundleCompiler.Compile("acme", PolicyFixtures.LoadValid(PolicyFixtures.Policy("p", "acme", "- { name: r, match: { tools: [x] }, effect: allow }")).Objects), signer);

    public static TheoryData<string> OtherThanBundle() => ["token", "audit"];

    [Theory]
    [MemberData(nameof(OtherThanBundle))]
    public async Task BundleVerifier_SignedWithAnotherPurposesKey_RefusedAsPurposeMismatch(string purpose)
    {
        var signer = purpose == "token" ? TestKeys.TokenSigner : TestKeys.AuditSigner;
        var result = new BundleVerifier(TestKeys.Jwks).Verify(await BundleAsync(signer));

        Assert.Equal(BundleRejection.KeyPurposeMismatch, result.Reason);
        Assert.Equal("bundle_key_purpose_mismatch", result.Reason);
        Assert.Contains($"published for {purpose}, not bundle", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BundleVerifier_KeyPublishedWithoutPurpose_Refused()
    {
        var jwks = new JsonWebKeySet([TestKeys.Signer.PublicJwk with { Purpose = null }]);

        Assert.Equal(BundleRejection.KeyPurposeMismatch, new BundleVerifier(jwks).Verify(await BundleAsync(TestKeys.Signer)).Reason);
    }

    public static TheoryData<string> OtherThanToken() => ["bundle", "audit"];

    [Theory]
    [MemberData(nameof(OtherThanToken))]
    public async Task AgentTokens_SignedWithAnotherPurposesKey_RefusedAsPurposeMismatch(string purpose)
    {
        // Sign the token input by hand: the minter itself refuses a non-token key.
        var signer = purpose == "bundle" ? TestKeys.Signer : TestKeys.AuditSigner;
        var now = DateTimeOffset.UtcNow;
        var claims = new JsonObject
        {
            ["iss"] = "test", ["aud"] = AgentTokens.DefaultAudience, ["sub"] = "a", ["agent_id"] = "a", ["tenant"] = "acme",
            ["iat"] = now.ToUnixTimeSeconds(), ["exp"] = now.AddMinutes(5).ToUnixTimeSeconds(), ["jti"] = "j",
        };
        var token = await CompactJws.SignAsync(System.Text.Encoding.UTF8.GetBytes(claims.ToJsonString()), signer);

        var check = AgentTokens.Verify(token, TestKeys.Jwks, now, TestKeys.Expected);

        Assert.Equal(TokenRejection.KeyPurposeMismatch, check.Reason);
        Assert.Contains($"published for {purpose}, not token", check.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> OtherThanAudit() => ["bundle", "token"];

    [Theory]
    [MemberData(nameof(OtherThanAudit))]
    public async Task AuditChain_CheckpointSignedWithAnotherPurposesKey_Refused(string purpose)
    {
        var signer = purpose == "bundle" ? TestKeys.Signer : TestKeys.TokenSigner;
        var keys = AuditKeys.Parse(TestKeys.Jwks.ToJson());
        var forged = new Aegis.TestSupport.Audit.AuditChainBuilder("r1", TestKeys.AuditSigner, DateTimeOffset.UnixEpoch).Segment().Decisions(2);
        await forged.CheckpointAsync(by: signer);
        var honest = new Aegis.TestSupport.Audit.AuditChainBuilder("r1", TestKeys.AuditSigner, DateTimeOffset.UnixEpoch).Segment().Decisions(2);
        await honest.CheckpointAsync();

        var refused = AuditVerifier.Verify(forged.Sources(), keys);

        Assert.False(refused.Valid);
        Assert.Contains(refused.Problems, p => p.Reason == AuditProblems.CheckpointInvalid);
        Assert.True(AuditVerifier.Verify(honest.Sources(), keys).Valid);
    }
}
