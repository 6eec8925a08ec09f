using Aegis.Decision.Hosting;
using Aegis.Operator.Certificates;
using Aegis.Operator.Hosting;
using Aegis.Operator.Injection;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;

namespace Aegis.Operator.Tests;

/// <summary>The operator's :8080 over HTTPS from its own CA, and decision servers that trust that CA alone (<c>--ca-file</c>).</summary>
public sealed class OperatorHttpsTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    private KubernetesTestServer Api => _cluster.Server;

    private Kubernetes Client => _cluster.Client;
    private OperatorUnderTest _operator = null!;
    private TempDirectory _dir = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
        _dir = new TempDirectory();
        await OperatorUnderTest.CreateNamespaceAsync(Client, "fin", "acme");
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(new
        {
            apiVersion = "aegis.dev/v1alpha1", kind = "AgentPolicy", metadata = new { name = "pay", @namespace = "fin" },
            spec = new { tenant = "acme", rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, effect = "allow" } } },
        }, "aegis.dev", "v1alpha1", "fin", "agentpolicies");

        // "localhost" as the Service name, so the certificate names the host the test dials.
        _operator = await OperatorUnderTest.StartAsync(Client, configure: o => o with
        {
            Webhook = new WebhookHostOptions { Port = 0, Tls = new WebhookTlsOptions { Namespace = "aegis-system" } },
            Https = new OperatorHttpsOptions { Namespace = "aegis-system", ServiceName = "localhost" },
        });
        await Eventually.TrueAsync(() => _operator.Bundle("acme") is not null && OperatorHttps.IsReady(_operator.App.Services), "the bundle and the HTTPS certificate");
    }

    public async ValueTask DisposeAsync()
    {
        await _operator.DisposeAsync();
        _dir.Dispose();
        await _cluster.DisposeAsync();
    }

    private string BundleUrl => $"https://localhost:{LoopbackPorts.BoundPort(_operator.App, "https")}/bundles/{{tenant}}";

    [Fact]
    public async Task DecisionServer_TrustingThePublishedCa_FetchesBundlesAndKeysOverHttps()
    {
        await Eventually.TrueAsync(() => Api.Objects("", "configmaps", "aegis-system").Any(m => m["metadata"]!["name"]!.ToString() == "aegis-operator-ca"), "the CA published");
        var ca = Api.Objects("", "configmaps", "aegis-system").Single(m => m["metadata"]!["name"]!.ToString() == "aegis-operator-ca")["data"]!["ca.crt"]!.ToString();

        await using var server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleUrl = BundleUrl,
            JwksUrl = new Uri(BundleUrl.Replace("/bundles/{tenant}", "/.well-known/jwks.json", StringComparison.Ordinal)),
            CaFile = _dir.Write("ca.crt", ca),
            Tenants = ["acme"],
            GrpcPort = 0,
            HttpPort = 0,
        });

        Assert.Equal(_operator.Bundle("acme")!.Revision, server.Bundles.Get("acme")?.Revision);
    }

    [Fact]
    public async Task DecisionServer_TrustingAnotherCa_RefusesTheHandshakeAndLoadsNothing()
    {
        var stranger = Aegis.Operator.Certificates.OperatorCertificateAuthority.CreateCa(DateTimeOffset.UtcNow, TimeSpan.FromDays(1));

        await using var server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleUrl = BundleUrl,
            JwksPath = _dir.Write("jwks.json", TestKeys.Jwks.ToJson()),
            CaFile = _dir.Write("other-ca.crt", stranger.CertificatePem),
            Tenants = ["acme"],
            GrpcPort = 0,
            HttpPort = 0,
        });

        Assert.Null(server.Bundles.Get("acme"));
    }
}
