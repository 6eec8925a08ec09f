using Aegis.Operator.Publishing;
using Aegis.Policy.Bundles;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;

namespace Aegis.Operator.Tests;

public class ConfigMapPublisherTests
{
    [Fact]
    public async Task Publish_WritesAVerifiableBundleAndItsRevision_ThenReplacesIt()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var publisher = new ConfigMapPublisher(client, "aegis-system");
        var yaml = PolicyFixtures.Policy("p", "acme", "- { name: r, match: { tools: [x] }, effect: allow }");
        var v1 = BundleCompiler.Compile("acme", PolicyFixtures.LoadValid(yaml).Objects);

        Assert.Null(await publisher.CurrentRevisionAsync("acme"));
        await publisher.PublishAsync("acme", v1.Revision, await BundleArchive.SignAndPackAsync(v1, TestKeys.Signer));
        var v2 = BundleCompiler.Compile("acme", PolicyFixtures.LoadValid(yaml.Replace("allow", "deny", StringComparison.Ordinal)).Objects);
        var bytes = await BundleArchive.SignAndPackAsync(v2, TestKeys.Signer);
        await publisher.PublishAsync("acme", v2.Revision, bytes);

        Assert.Equal(v2.Revision, await publisher.CurrentRevisionAsync("acme"));
        var map = await client.CoreV1.ReadNamespacedConfigMapAsync("aegis-bundle-acme", "aegis-system");
        Assert.Equal("acme", map.Metadata.Labels["aegis.dev/tenant"]);
        Assert.Equal(bytes, map.BinaryData["bundle.tar.gz"]);
        Assert.True(new BundleVerifier(TestKeys.Jwks).Verify(map.BinaryData["bundle.tar.gz"], "acme").IsValid);
    }

    [Fact]
    public async Task Publish_LargerThanAConfigMapHolds_IsRefusedWithTheReason()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var publisher = new ConfigMapPublisher(client, "aegis-system");

        var e = await Assert.ThrowsAsync<BundleTooLargeException>(() => publisher.PublishAsync("acme", "r", new byte[ConfigMapPublisher.MaxBytes + 1]));

        Assert.Contains("a ConfigMap holds at most 1,048,576", e.Message, StringComparison.Ordinal);
        Assert.Contains("S3 or GCS", e.Message, StringComparison.Ordinal);
        Assert.Empty(api.Objects("", "configmaps"));
    }

    [Fact]
    public async Task FanOut_CurrentOnlyWhenEveryDestinationHasIt()
    {
        var a = new BundleCatalog();
        var b = new BundleCatalog();
        var fanOut = new FanOutPublisher(a, b);
        await a.PublishAsync("acme", "r1", [1]);
        Assert.Null(await fanOut.CurrentRevisionAsync("acme"));

        await fanOut.PublishAsync("acme", "r2", [2]);
        Assert.Equal("r2", await fanOut.CurrentRevisionAsync("acme"));
        Assert.Equal("r2", await b.CurrentRevisionAsync("acme"));
    }
}
