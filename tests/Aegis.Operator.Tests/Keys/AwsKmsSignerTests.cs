using Aegis.Operator.Keys;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.Policy.Identity;
using Aegis.TestSupport.Kms;
using Amazon.KeyManagementService;
using Amazon.Runtime;

namespace Aegis.Operator.Tests.Keys;

public class AwsKmsSignerTests
{
    private static AmazonKeyManagementServiceClient Client(AwsKmsTestServer server, string? secret = null) => new(
        new BasicAWSCredentials(server.AccessKey, secret ?? server.SecretKey),
        new AmazonKeyManagementServiceConfig { ServiceURL = server.Url, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });

    [Fact]
    public async Task SignAsync_Ed25519KmsKey_BundleAndTokenVerifyWithTheJwkFromGetPublicKey()
    {
        await using var server = await AwsKmsTestServer.StartAsync();
        var (keyId, publicKey) = server.CreateKey();
        using var kms = Client(server);

        var signer = await AwsKmsSigner.CreateAsync(kms, keyId, KeyPurpose.Bundle, TestContext.Current.CancellationToken);

        Assert.Equal(publicKey, signer.PublicKey);
        await KmsSignerAssertions.SignsVerifiableBundlesOnlyAsync(signer);
        Assert.Contains($"TrentService.Sign {keyId}", server.Requests);
    }

    [Fact]
    public async Task PublishedKeys_WithAPreviousKmsKey_TokensOfBothVerifyButOnlyTheCurrentSigns()
    {
        await using var server = await AwsKmsTestServer.StartAsync();
        var (oldId, _) = server.CreateKey();
        var (newId, _) = server.CreateKey();
        using var kms = Client(server);
        var old = await AwsKmsSigner.CreateAsync(kms, oldId, KeyPurpose.Token, TestContext.Current.CancellationToken);
        var current = await AwsKmsSigner.CreateAsync(kms, newId, KeyPurpose.Token, TestContext.Current.CancellationToken);
        current.PreviousKeys = [old.PublicJwk];
        var now = DateTimeOffset.UtcNow;

        var oldToken = await TestTokens.MintAsync(old, "acme", "a", now: now);
        var newToken = await TestTokens.MintAsync(current, "acme", "a", now: now);

        var expected = Aegis.Operator.Tokens.TokenServiceOptions.Expectations(null);
        Assert.Equal([(current.KeyId, "token"), (old.KeyId, "token")], current.PublishedKeys.Keys.Select(k => (k.Kid!, k.Purpose!)));
        Assert.Null(AgentTokens.Verify(oldToken, current.PublishedKeys, now, expected).Reason);
        Assert.Equal(current.KeyId, AgentTokens.Verify(newToken, current.PublishedKeys, now, expected).Token!.KeyId);
    }

    [Fact]
    public async Task CreateAsync_WrongSecretKey_FailsWithTheSigV4Error()
    {
        await using var server = await AwsKmsTestServer.StartAsync();
        var (keyId, _) = server.CreateKey();
        using var kms = Client(server, "not-the-secret");

        var e = await Assert.ThrowsAsync<KmsSigningException>(() => AwsKmsSigner.CreateAsync(kms, keyId, KeyPurpose.Bundle, TestContext.Current.CancellationToken));

        Assert.Contains("InvalidSignatureException", e.Message, StringComparison.Ordinal);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task SignAsync_DisabledKey_ThrowsWithKmsErrorCode()
    {
        await using var server = await AwsKmsTestServer.StartAsync();
        var (keyId, _) = server.CreateKey(enabled: false);
        using var kms = Client(server);
        var signer = await AwsKmsSigner.CreateAsync(kms, keyId, KeyPurpose.Bundle, TestContext.Current.CancellationToken);

        var e = await Assert.ThrowsAsync<KmsSigningException>(async () => await signer.SignAsync("x"u8.ToArray(), TestContext.Current.CancellationToken));

        Assert.Contains("DisabledException", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAsync_UnknownKey_ThrowsNotFound()
    {
        await using var server = await AwsKmsTestServer.StartAsync();
        using var kms = Client(server);

        var e = await Assert.ThrowsAsync<KmsSigningException>(() => AwsKmsSigner.CreateAsync(kms, "no-such-key", KeyPurpose.Bundle, TestContext.Current.CancellationToken));

        Assert.Contains("NotFoundException", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignAsync_RealAwsKms_SignsVerifiably()
    {
        // Runs where an ECC_NIST_EDWARDS25519 key and credentials with kms:Sign and kms:GetPublicKey are configured.
        var keyId = Environment.GetEnvironmentVariable("AEGIS_AWS_KMS_KEY_ID");
        if (string.IsNullOrEmpty(keyId))
        {
            Assert.Skip("AEGIS_AWS_KMS_KEY_ID is not set: this suite runs against real AWS KMS where that key id and AWS credentials (region from AWS_REGION) are in the environment; see docs/keys.md");
        }

        using var kms = new AmazonKeyManagementServiceClient();
        var signer = await AwsKmsSigner.CreateAsync(kms, keyId, KeyPurpose.Bundle, TestContext.Current.CancellationToken);
        await KmsSignerAssertions.SignsVerifiableBundlesOnlyAsync(signer);
    }
}
