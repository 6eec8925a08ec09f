using Aegis.Operator.Keys;
using Aegis.Policy.Signing;
using Aegis.TestSupport.Kms;
using Google.Apis.Auth.OAuth2;

namespace Aegis.Operator.Tests.Keys;

public class GcpKmsSignerTests
{
    [Fact]
    public void Crc32C_KnownVector_MatchesTheCastagnoliCheckValue()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(GcpKmsTestServer.Crc32C("aegis"u8), Crc32C.Compute("aegis"u8));
    }

    [Fact]
    public async Task SignAsync_Ed25519KeyVersion_BundleAndTokenVerifyWithTheJwkFromPublicKey()
    {
        await using var server = await GcpKmsTestServer.StartAsync();
        var (name, publicKey) = server.CreateKeyVersion();
        using var http = new HttpClient();

        var signer = await GcpKmsSigner.CreateAsync(http, name, GoogleCredential.FromAccessToken(server.AccessToken), KeyPurpose.Bundle, new Uri(server.Url), TestContext.Current.CancellationToken);

        Assert.Equal(publicKey, signer.PublicKey);
        await KmsSignerAssertions.SignsVerifiableBundlesOnlyAsync(signer);
    }

    [Fact]
    public async Task CreateAsync_WrongAccessToken_FailsWithGooglesErrorStatus()
    {
        await using var server = await GcpKmsTestServer.StartAsync();
        var (name, _) = server.CreateKeyVersion();
        using var http = new HttpClient();

        var e = await Assert.ThrowsAsync<KmsSigningException>(() =>
            GcpKmsSigner.CreateAsync(http, name, GoogleCredential.FromAccessToken("stolen"), KeyPurpose.Bundle, new Uri(server.Url), TestContext.Current.CancellationToken));

        Assert.Contains("HTTP 401 UNAUTHENTICATED", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignAsync_CorruptedSignatureCrc_IsRefused()
    {
        await using var server = await GcpKmsTestServer.StartAsync();
        var (name, _) = server.CreateKeyVersion();
        using var http = new HttpClient();
        var signer = await GcpKmsSigner.CreateAsync(http, name, GoogleCredential.FromAccessToken(server.AccessToken), KeyPurpose.Bundle, new Uri(server.Url), TestContext.Current.CancellationToken);
        server.CorruptSignatureCrc = true;

        var e = await Assert.ThrowsAsync<KmsSigningException>(async () => await signer.SignAsync("x"u8.ToArray(), TestContext.Current.CancellationToken));

        Assert.Contains("signatureCrc32c", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAsync_NotAKeyVersionName_ThrowsArgumentException()
    {
        using var http = new HttpClient();

        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            GcpKmsSigner.CreateAsync(http, "projects/p/cryptoKeys/k", GoogleCredential.FromAccessToken("t"), KeyPurpose.Bundle, new Uri("http://127.0.0.1:1/"), TestContext.Current.CancellationToken));

        Assert.Contains("cryptoKeyVersions", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignAsync_RealCloudKms_SignsVerifiably()
    {
        // Runs where an EC_SIGN_ED25519 key version and application default credentials with
        // roles/cloudkms.signerVerifier and roles/cloudkms.publicKeyViewer are configured.
        var keyVersion = Environment.GetEnvironmentVariable("AEGIS_GCP_KMS_KEY_VERSION");
        if (string.IsNullOrEmpty(keyVersion))
        {
            Assert.Skip("AEGIS_GCP_KMS_KEY_VERSION is not set: this suite runs against real Cloud KMS where that key version name and application default credentials are in the environment; see docs/keys.md");
        }

        using var http = new HttpClient();
        var credential = (await GoogleCredential.GetApplicationDefaultAsync(TestContext.Current.CancellationToken)).CreateScoped(GcpKmsSigner.Scope);
        var signer = await GcpKmsSigner.CreateAsync(http, keyVersion, credential, KeyPurpose.Bundle, cancellationToken: TestContext.Current.CancellationToken);
        await KmsSignerAssertions.SignsVerifiableBundlesOnlyAsync(signer);
    }
}
