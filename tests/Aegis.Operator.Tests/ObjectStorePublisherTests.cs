using System.Security.Cryptography;
using Aegis.Operator.Publishing;
using Aegis.Policy.Bundles;
using Aegis.TestSupport;
using Aegis.TestSupport.Storage;
using Amazon.Runtime;
using Amazon.S3;
using Google.Apis.Auth.OAuth2;
using Google.Cloud.Storage.V1;

namespace Aegis.Operator.Tests;

/// <summary>S3 and GCS publishers, through the real AWS and Google clients, against in-process endpoints that check signatures and tokens.</summary>
public class ObjectStorePublisherTests
{
    private static BundleContent Policy(string effect) => BundleCompiler.Compile("acme", PolicyFixtures.LoadValid($$$"""
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: pay, namespace: fin, generation: 1 }
        spec: { tenant: acme, rules: [{ name: r, match: { tools: ["stripe.*"] }, effect: {{{effect}}} }] }
        """).Objects);

    /// <summary>Publishes like the operator's leader: only a revision the store does not hold yet.</summary>
    private static async Task<bool> PublishAsync(IBundlePublisher publisher, BundleContent content)
    {
        if (await publisher.CurrentRevisionAsync("acme") == content.Revision)
        {
            return false;
        }

        await publisher.PublishAsync("acme", content.Revision, await BundleArchive.SignAndPackAsync(content.WithSequence(1), TestKeys.Signer));
        return true;
    }

    /// <summary>One object store under test: its publisher and what the store really holds.</summary>
    public sealed class Store(ObjectStorePublisher publisher, Func<string, IReadOnlyList<(string Version, byte[] Content)>> versions, IAsyncDisposable server) : IAsyncDisposable
    {
        public ObjectStorePublisher Publisher { get; } = publisher;

        public IReadOnlyList<(string Version, byte[] Content)> Versions(string key) => versions(key);

        public ValueTask DisposeAsync() => server.DisposeAsync();
    }

    public static TheoryData<string> Stores => ["s3", "gcs"];

    private static async Task<Store> StartAsync(string kind, bool versioned = true, bool wrongCredentials = false)
    {
        if (kind == "s3")
        {
            var server = await S3TestServer.StartAsync();
            server.CreateBucket("aegis-bundles", versioned);
            var s3 = new AmazonS3Client(
                new BasicAWSCredentials(server.AccessKey, wrongCredentials ? "not-the-secret" : server.SecretKey),
                new AmazonS3Config { ServiceURL = server.Url, ForcePathStyle = true, AuthenticationRegion = "eu-west-1", MaxErrorRetry = 0 });
            return new Store(new S3Publisher(s3, "aegis-bundles", "bundles/", TimeProvider.System),
                key => [.. server.Versions("aegis-bundles", key).Select(v => (v.VersionId, v.Content))], server);
        }

        var gcs = await GcsTestServer.StartAsync();
        gcs.CreateBucket("aegis-bundles");
        var storage = await new StorageClientBuilder
        {
            BaseUri = gcs.Url + "/storage/v1/",
            Credential = GoogleCredential.FromAccessToken(wrongCredentials ? "stolen" : gcs.AccessToken),
        }.BuildAsync();
        return new Store(new GcsPublisher(storage, "aegis-bundles", "bundles/", TimeProvider.System),
            key => [.. gcs.Generations("aegis-bundles", key).Select(v => (v.Generation.ToString(System.Globalization.CultureInfo.InvariantCulture), v.Content))], gcs);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Publish_ToObjectStore_WritesTheBundleThenAManifestNamingItsRevisionAndVersion(string kind)
    {
        await using var store = await StartAsync(kind);
        var second = Policy("deny");

        Assert.True(await PublishAsync(store.Publisher, Policy("allow")));
        Assert.True(await PublishAsync(store.Publisher, second));
        Assert.False(await PublishAsync(store.Publisher, Policy("deny")));
        var bundles = store.Versions("bundles/acme/bundle.tar.gz");
        Assert.Equal(2, bundles.Count);
        var manifest = (await store.Publisher.ReadManifestAsync("acme"))!;
        Assert.Equal(second.Revision, manifest.Revision);
        Assert.Equal("bundles/acme/bundle.tar.gz", manifest.Key);

        // The manifest pins the second version, whose bytes are the signed bundle of that revision.
        var pinned = bundles.Single(b => b.Version == manifest.Version).Content;
        Assert.Equal(bundles[^1].Version, manifest.Version);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(pinned)), manifest.Sha256);
        var verified = new BundleVerifier(TestKeys.Jwks).Verify(pinned, "acme");
        Assert.True(verified.IsValid, verified.Message);
        Assert.Equal(second.Revision, verified.Bundle!.Revision);
        Assert.Equal(second.Revision, await store.Publisher.CurrentRevisionAsync("acme"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task CurrentRevision_NothingPublished_IsNull(string kind)
    {
        await using var store = await StartAsync(kind);

        Assert.Null(await store.Publisher.CurrentRevisionAsync("acme"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Publish_WrongCredentials_FailsAndWritesNothing(string kind)
    {
        await using var store = await StartAsync(kind, wrongCredentials: true);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => store.Publisher.PublishAsync("acme", "r1", [1, 2, 3]));

        Assert.Contains(kind == "s3" ? "signature" : "storage.objects", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(store.Versions("bundles/acme/bundle.tar.gz"));
        Assert.Empty(store.Versions("bundles/acme/manifest.json"));
    }

    [Fact]
    public async Task Publish_S3BucketWithoutVersioning_RefusedBeforeAnyManifestIsWritten()
    {
        await using var store = await StartAsync("s3", versioned: false);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.Publisher.PublishAsync("acme", "r1", [1, 2, 3]));

        Assert.Contains("s3://aegis-bundles/bundles/acme/bundle.tar.gz: the bucket does not have versioning enabled", error.Message, StringComparison.Ordinal);
        Assert.Empty(store.Versions("bundles/acme/manifest.json"));
    }
}
