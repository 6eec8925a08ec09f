using System.Net;
using Aegis.Operator.Hosting;
using Aegis.Policy.Bundles;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;

namespace Aegis.Operator.Tests;

public class OperatorHostTests
{
    [Fact]
    public async Task Operator_ServesVerifiableBundlesAndItsJwks_AndReleasesItsLeaseOnStop()
    {
        await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        using var keys = Aegis.Operator.Keys.OperatorSigningKeys.Generate();
        await OperatorUnderTest.CreateNamespaceAsync(client, "fin", "acme");
        var app = OperatorHost.Build(new OperatorOptions
        {
            Client = client,
            Namespace = "aegis-system",
            Keys = keys,
            Identity = "operator-0",
            HttpPort = 0,
            PublishConfigMaps = true,
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        });
        await app.StartAsync();
        var port = LoopbackPorts.BoundPort(app);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        await client.CustomObjects.CreateNamespacedCustomObjectAsync(new
        {
            apiVersion = "aegis.dev/v1alpha1", kind = "AgentPolicy", metadata = new { name = "pay", @namespace = "fin" },
            spec = new { tenant = "acme", rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, effect = "allow" } } },
        }, "aegis.dev", "v1alpha1", "fin", "agentpolicies");

        HttpResponseMessage? bundle = null;
        await Eventually.TrueAsync(async () =>
        {
            bundle?.Dispose();
            bundle = await http.GetAsync("/bundles/acme");
            return bundle.StatusCode == HttpStatusCode.OK;
        }, "the bundle served");

        var published = JsonWebKeySet.Parse(await http.GetStringAsync("/.well-known/jwks.json"));
        var verified = new BundleVerifier(published).Verify(await bundle!.Content.ReadAsByteArrayAsync(), "acme");
        Assert.True(verified.IsValid, verified.Message);

        // Each key is published once, with its purpose; the bundle is signed by the bundle key.
        Assert.Equal([("bundle", keys.Bundles.KeyId), ("token", keys.Tokens.KeyId)], published.Keys.Select(k => (k.Purpose, k.Kid)));
        Assert.Equal(keys.Bundles.KeyId, verified.Bundle!.KeyId);
        Assert.Equal($"\"{verified.Bundle!.Revision}\"", bundle.Headers.ETag!.Tag);
        bundle.Dispose();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);

        // The leader also wrote the ConfigMap copy.
        await Eventually.TrueAsync(() => api.Objects("", "configmaps", "aegis-system").Count > 0, "the ConfigMap published");

        // Shutting down: not ready from the first moment (asked while the server still serves), then the Lease handed back.
        app.Lifetime.StopApplication();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/readyz")).StatusCode);
        await app.StopAsync();
        await app.DisposeAsync();
        Assert.Equal("", api.Objects("coordination.k8s.io", "leases", "aegis-system").Single()["spec"]!["holderIdentity"]!.ToString());
    }
}
