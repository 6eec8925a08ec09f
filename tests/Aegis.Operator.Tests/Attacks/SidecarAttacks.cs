using System.Net;
using System.Net.Sockets;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Operator.Certificates;
using Aegis.Operator.Hosting;
using Aegis.Operator.Injection;
using Aegis.Operator.Sidecar;
using Aegis.Operator.Tests.Certificates;
using Aegis.Operator.Tests.Sidecar;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Admission;
using Aegis.TestSupport.Kubernetes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using k8s;
using k8s.Models;
using AuthorizationClient = Aegis.Decision.Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient;

namespace Aegis.Operator.Tests.Attacks;

/// <summary>
/// The operator against the test API server, its webhook over HTTPS trusted through the registered caBundle only,
/// as the API server calls it. One namespace, <c>agents</c>, enforced for tenant acme.
/// </summary>
public sealed class EnforcedWebhook : IAsyncLifetime
{
    private KubernetesTestServer _api = null!;
    private Kubernetes _client = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private Aegis.Operator.Keys.OperatorSigningKeys _keys = null!;

    public async ValueTask InitializeAsync()
    {
        _api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _api.Url });
        await _client.CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = "agents", Labels = new Dictionary<string, string> { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" } },
        });
        _keys = Aegis.Operator.Keys.OperatorSigningKeys.Generate();
        _app = OperatorHost.Build(new OperatorOptions
        {
            Client = _client, Namespace = "aegis-system", Keys = _keys, Identity = "attacks", HttpPort = 0,
            Webhook = new WebhookHostOptions { Port = 0, Tls = new WebhookTlsOptions { Namespace = "aegis-system" } },
            DecisionTls = new DecisionTlsOptions { Namespace = "aegis-system" },
        });
        await _app.StartAsync();
        using var ready = new HttpClient();
        await Eventually.TrueAsync(async () => (await ready.GetAsync($"http://127.0.0.1:{LoopbackPorts.BoundPort(_app, "http")}/readyz")).IsSuccessStatusCode, "the operator ready");
        var registered = await _client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync("aegis-sidecar-injector");
        var bundle = OperatorCertificateAuthority.ReadBundle(Encoding.ASCII.GetString(registered.Webhooks[0].ClientConfig.CaBundle));
        var port = LoopbackPorts.BoundPort(_app, "https");
        _http = new HttpClient(LoopbackTls.Handler(port, bundle)) { BaseAddress = new Uri($"https://aegis-operator-webhook.aegis-system.svc:{port}") };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _keys.Dispose();
        _client.Dispose();
        await _api.DisposeAsync();
    }

    /// <summary>Reviews <paramref name="pod"/> over HTTPS: the response, and the pod with its patch applied.</summary>
    public async Task<(JsonNode Response, JsonObject Pod)> ReviewAsync(JsonObject pod, string ns = "agents")
    {
        using var content = new StringContent(AdmissionFixtures.Review(pod, ns).ToJsonString(), Encoding.UTF8, "application/json");
        using var answer = await _http.PostAsync(PodInjectionWebhook.Path, content);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var response = JsonNode.Parse(await answer.Content.ReadAsStringAsync())!["response"]!;
        var patched = response["patch"] is { } patch ? JsonPatches.Apply(pod, Encoding.UTF8.GetString(Convert.FromBase64String(patch.ToString()))) : pod;
        return (response, patched);
    }

    /// <summary>The registration the API server goes by: which pods of an enforced namespace it sends at all.</summary>
    public Task<V1MutatingWebhookConfiguration> RegistrationAsync() => _client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync("aegis-sidecar-injector");
}

/// <summary>
/// One test per way around the sidecar that was open (issue #11, "Around the sidecar"), each through the real
/// servers: the webhook over HTTPS, the generated iptables rules in a network namespace, the decision server over
/// TLS. Each asserts the refusal and its reason.
/// </summary>
public sealed class SidecarAttacks(EnforcedWebhook webhook) : IClassFixture<EnforcedWebhook>
{
    private static string Message(JsonNode response) => response["status"]?["message"]?.ToString() ?? "";

    [Fact]
    public async Task PodLabelOptOut_InAnEnforcedNamespace_IsRefused()
    {
        var pod = AdmissionFixtures.RealisticPod();
        pod["metadata"]!["labels"]![InjectionLabels.Inject] = "false";

        var (response, _) = await webhook.ReviewAsync(pod);

        Assert.False(response["allowed"]!.GetValue<bool>());
        Assert.Contains("cannot opt out of the Aegis sidecar", Message(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PodLabelOptOut_IsStillSentToTheWebhook_ByTheRegistration()
    {
        var registration = await webhook.RegistrationAsync();
        var enforced = registration.Webhooks.Single(w => w.NamespaceSelector.MatchExpressions.Any(e => e.Key == InjectionLabels.Inject && e.OperatorProperty == "In"));

        // An object selector here would let the API server admit a pod labelled out without asking the webhook at all.
        Assert.True(enforced.ObjectSelector is null || enforced.ObjectSelector.MatchExpressions is null or { Count: 0 });
        Assert.Equal("Fail", enforced.FailurePolicy);
    }

    [Fact]
    public async Task OwnAegisProxyContainer_IsRefused_NotSkipped()
    {
        var pod = AdmissionFixtures.RealisticPod();
        pod["spec"]!["containers"]!.AsArray().Add(new JsonObject { ["name"] = SidecarOptions.ProxyContainerName, ["image"] = "busybox", ["command"] = new JsonArray("sleep", "infinity") });

        var (response, _) = await webhook.ReviewAsync(pod);

        Assert.False(response["allowed"]!.GetValue<bool>());
        Assert.Contains("pod spec.containers[2] (aegis-proxy): a container named aegis-proxy that Aegis did not inject is refused", Message(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OwnProxyVariables_AreRefused_NotSilentlyOverwritten()
    {
        var pod = AdmissionFixtures.RealisticPod();
        pod["spec"]!["containers"]![0]!["env"]!.AsArray().Add(new JsonObject { ["name"] = "NO_PROXY", ["value"] = "*" });

        var (response, _) = await webhook.ReviewAsync(pod);

        Assert.False(response["allowed"]!.GetValue<bool>());
        Assert.Contains("pod spec.containers[0] (agent): env NO_PROXY: Aegis sets this variable", Message(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PodTenantLabel_IsIgnored_TheNamespaceTenantIsWhatTheSidecarSpeaksFor()
    {
        var pod = AdmissionFixtures.RealisticPod();
        pod["metadata"]!["labels"]![InjectionLabels.Tenant] = "globex";

        var (response, injected) = await webhook.ReviewAsync(pod);

        Assert.True(response["allowed"]!.GetValue<bool>());
        var bootstrap = JsonNode.Parse(injected["spec"]!["containers"]!.AsArray().Last()!["args"]![1]!.ToString())!;
        Assert.Equal("acme", bootstrap["node"]!["metadata"]!["tenant"]!.ToString());
        Assert.DoesNotContain("globex", injected["spec"]!["containers"]!.AsArray().Last()!["args"]![1]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoProxy_ListsNoClusterNames()
    {
        var (_, injected) = await webhook.ReviewAsync(AdmissionFixtures.RealisticPod());

        var env = injected["spec"]!["containers"]![0]!["env"]!.AsArray();
        var noProxy = env.Single(e => e!["name"]!.ToString() == "NO_PROXY")!["value"]!.ToString().Split(',');
        Assert.Equal(["localhost", "127.0.0.1", "::1"], noProxy);
        Assert.DoesNotContain(noProxy, n => n.Contains("svc", StringComparison.Ordinal) || n.Contains("cluster.local", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RedirectOptOutAnnotation_IsRefused()
    {
        var pod = AdmissionFixtures.RealisticPod();
        pod["metadata"]!["annotations"]![InjectionLabels.Interception] = "proxy";

        var (response, _) = await webhook.ReviewAsync(pod);

        Assert.False(response["allowed"]!.GetValue<bool>());
        Assert.Contains("interception is always transparent", Message(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttpToAnInClusterService_IsInterceptedByTheInjectedRules()
    {
        NetworkNamespaceProbe.SkipUnlessAvailable();
        var (_, injected) = await webhook.ReviewAsync(AdmissionFixtures.RealisticPod());
        var init = injected["spec"]!["initContainers"]![0]!;
        Assert.Equal(SidecarOptions.InitContainerName, init["name"]!.ToString());

        // The very script the pod's aegis-init runs, in a network namespace: a client that ignores HTTP_PROXY
        // connecting to a Service address is redirected to the transparent port instead of leaving.
        var output = await NetworkNamespaceProbe.RunAsync(init["command"]![2]!.ToString());

        Assert.Contains("tcp-service=1", output, StringComparison.Ordinal);
        Assert.Contains("tcp-apiserver=1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsToTheDecisionServer_TrustingTheWrongCa_Fails()
    {
        await using var decision = await DecisionTlsServer.StartAsync();

        // The webhook's CA is the operator's too, but not the one the decision server's certificate chains to.
        var registration = await webhook.RegistrationAsync();
        var wrong = OperatorCertificateAuthority.ReadBundle(Encoding.ASCII.GetString(registration.Webhooks[0].ClientConfig.CaBundle));
        using var channel = decision.Channel(wrong);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await new AuthorizationClient(channel).CheckAsync(new CheckRequest { Attributes = new AttributeContext() }));

        Assert.IsType<System.Security.Authentication.AuthenticationException>(DecisionTlsServer.Innermost(e.Status.DebugException), exactMatch: false);
    }
}
