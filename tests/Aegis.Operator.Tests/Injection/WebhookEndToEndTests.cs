using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Aegis.Operator.Certificates;
using Aegis.Operator.Hosting;
using Aegis.Operator.Injection;
using Aegis.Operator.Sidecar;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Admission;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;

namespace Aegis.Operator.Tests.Injection;

/// <summary>The operator against the test API server: it registers the webhook with its CA, and serves it over HTTPS.</summary>
public class WebhookEndToEndTests
{
    [Fact]
    public async Task Operator_RegistersTheWebhookWithItsCa_AndInjectsOverHttpsTrustedThroughThatCaOnly()
    {
        await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = "agents", Labels = new Dictionary<string, string> { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" } },
        });
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "later" } });
        using var keys = Aegis.Operator.Keys.OperatorSigningKeys.Generate();
        var app = OperatorHost.Build(new OperatorOptions
        {
            Client = client, Namespace = "aegis-system", Keys = keys, Identity = "operator-0", HttpPort = 0,
            Webhook = new WebhookHostOptions { Port = 0, Tls = new WebhookTlsOptions { Namespace = "aegis-system" } },
            DecisionTls = new DecisionTlsOptions { Namespace = "aegis-system" },
        });
        await app.StartAsync();
        try
        {
            await Eventually.TrueAsync(() => api.Objects("admissionregistration.k8s.io", "mutatingwebhookconfigurations").Count == 1, "the webhook registered");
            var registered = await client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync("aegis-sidecar-injector");
            Assert.All(registered.Webhooks, w =>
            {
                Assert.Equal("None", w.SideEffects);
                Assert.Equal(["v1"], w.AdmissionReviewVersions);
                Assert.Equal(5, w.TimeoutSeconds);
                Assert.Equal("Fail", w.FailurePolicy);
                Assert.Equal("IfNeeded", w.ReinvocationPolicy);
                Assert.Equal(("aegis-operator-webhook", "aegis-system", "/mutate-pods", 443), (w.ClientConfig.Service.Name, w.ClientConfig.Service.NamespaceProperty, w.ClientConfig.Service.Path, w.ClientConfig.Service.Port));
                Assert.Contains(w.NamespaceSelector.MatchExpressions, e => e.Key == "kubernetes.io/metadata.name" && e.OperatorProperty == "NotIn" && e.Values.Contains("aegis-system") && e.Values.Contains("kube-system"));
            });
            Assert.Contains(registered.Webhooks[0].NamespaceSelector.MatchExpressions, e => e.Key == InjectionLabels.Inject && e.OperatorProperty == "In" && e.Values.SequenceEqual(["enabled"]));
            var bundle = OperatorCertificateAuthority.ReadBundle(Encoding.ASCII.GetString(registered.Webhooks[0].ClientConfig.CaBundle));

            using var http = TrustingOnly(bundle, LoopbackPorts.BoundPort(app, "https"));
            var outcome = await PostAsync(http, AdmissionFixtures.RealisticPod("agents"), "agents");
            Assert.Equal(SidecarOptions.ProxyContainerName, outcome["spec"]!["containers"]!.AsArray().Last()!["name"]!.ToString());

            // The sidecar trusts exactly the CA the operator published for the decision server.
            var published = (await client.CoreV1.ReadNamespacedConfigMapAsync("aegis-decision-ca", "aegis-system")).Data["ca.crt"];
            var bootstrap = JsonNode.Parse(outcome["spec"]!["containers"]!.AsArray().Last()!["args"]![1]!.ToString())!;
            var decision = bootstrap["static_resources"]!["clusters"]!.AsArray().Single(c => c!["name"]!.ToString() == EnvoyBootstrap.DecisionCluster)!;
            Assert.Equal(published, decision["transport_socket"]!["typed_config"]!["common_tls_context"]!["validation_context"]!["trusted_ca"]!["inline_string"]!.ToString());

            // A namespace labelled after the operator started is seen through the watch.
            var later = await client.CoreV1.ReadNamespaceAsync("later");
            later.Metadata.Labels = new Dictionary<string, string> { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "globex" };
            await client.CoreV1.ReplaceNamespaceAsync(later, "later");
            await Eventually.TrueAsync(async () => (await PostAsync(http, AdmissionFixtures.RealisticPod("later"), "later"))["spec"]!["containers"]!.AsArray().Count == 3, "the relabelled namespace injected");

            using var ready = await new HttpClient().GetAsync($"http://127.0.0.1:{LoopbackPorts.BoundPort(app, "http")}/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Reviews <paramref name="pod"/> over HTTPS and returns it with the answered patch applied.</summary>
    private static async Task<JsonObject> PostAsync(HttpClient http, JsonObject pod, string ns)
    {
        using var content = new StringContent(AdmissionFixtures.Review(pod, ns).ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/mutate-pods", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["response"]!;
        Assert.True(answer["allowed"]!.GetValue<bool>(), answer.ToJsonString());
        return answer["patch"] is { } patch ? JsonPatches.Apply(pod, Encoding.UTF8.GetString(Convert.FromBase64String(patch.ToString()))) : pod;
    }

    /// <summary>A client as the API server is: it calls the Service's DNS name and trusts nothing but the caBundle.</summary>
    private static HttpClient TrustingOnly(X509Certificate2Collection bundle, int port) =>
        new(LoopbackTls.Handler(port, bundle)) { BaseAddress = new Uri($"https://aegis-operator-webhook.aegis-system.svc:{port}") };
}
