using System.Text;
using System.Text.Json.Nodes;
using Aegis.Operator.Certificates;
using Aegis.Operator.Injection;
using Aegis.Operator.Sidecar;
using Aegis.TestSupport;
using Aegis.TestSupport.Admission;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Injection;

/// <summary>Namespace metadata from a dictionary, for webhook tests without an API server.</summary>
internal sealed class StaticNamespaceLabels(Dictionary<string, NamespaceMetadata> namespaces) : INamespaceLabels
{
    public ValueTask<NamespaceMetadata?> GetAsync(string ns, CancellationToken cancellationToken) =>
        ValueTask.FromResult(namespaces.TryGetValue(ns, out var metadata) ? metadata : null);
}

/// <summary>What a review came back with: the response, and the pod after applying its patch (the pod itself when there was none).</summary>
internal sealed record ReviewOutcome(int StatusCode, JsonObject? Response, JsonObject Pod, string RawBody)
{
    public bool Allowed => Response!["allowed"]!.GetValue<bool>();

    public bool Patched => Response?["patch"] is not null;

    public string Message => Response?["status"]?["message"]?.ToString() ?? "";

    public JsonArray Containers => Pod["spec"]!["containers"]!.AsArray();

    public JsonObject Container(string name) => Containers.Single(c => c!["name"]!.ToString() == name)!.AsObject();

    public string? Env(string container, string name) =>
        Container(container)["env"]?.AsArray().SingleOrDefault(e => e!["name"]!.ToString() == name)?["value"]?.ToString();

    public JsonArray InitContainers => Pod["spec"]!["initContainers"]!.AsArray();

    /// <summary>The proxy's Envoy bootstrap, read back from its <c>--config-yaml</c> argument.</summary>
    public JsonObject Bootstrap => JsonNode.Parse(Container(SidecarOptions.ProxyContainerName)["args"]![1]!.ToString())!.AsObject();

    public JsonObject? Status => Pod["metadata"]?["annotations"]?[InjectionLabels.Status] is { } s ? JsonNode.Parse(s.ToString())!.AsObject() : null;
}

/// <summary>Runs AdmissionReviews through the webhook and applies the returned patch with a third-party JSON Patch implementation.</summary>
internal sealed class WebhookHarness
{
    public const string OperatorNamespace = "aegis-system";

    /// <summary>The decision CA the golden bootstraps trust (a fixed certificate, so generated bootstraps are deterministic).</summary>
    public static readonly string DecisionCa = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "tests/Aegis.Operator.Tests/Golden/decision-ca.pem"));

    public static DecisionTrust Trust => DecisionTrust.Of(DecisionCa);

    public WebhookHarness(Dictionary<string, NamespaceMetadata>? namespaces = null, SidecarOptions? options = null, DecisionTrust? trust = null)
    {
        Options = options ?? new SidecarOptions();
        Webhook = new PodInjectionWebhook(new PodInjector(Options, OperatorNamespace, trust ?? Trust), new StaticNamespaceLabels(namespaces ?? Namespaces()), NullLogger<PodInjectionWebhook>.Instance);
    }

    public SidecarOptions Options { get; }

    public PodInjectionWebhook Webhook { get; }

    /// <summary>
    /// agents: enforced, tenant acme; exempting: enforced, exempts service account payments-bot; plain: no labels;
    /// plaintenant: not enforced, tenant globex; notenant: enforced without a tenant; kube-system and aegis-system enforced.
    /// </summary>
    public static Dictionary<string, NamespaceMetadata> Namespaces() => new()
    {
        ["agents"] = Labels(new() { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" }),
        ["exempting"] = new(new Dictionary<string, string> { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" },
            new Dictionary<string, string> { [InjectionLabels.ExemptServiceAccounts] = "batch, payments-bot" }),
        ["plain"] = Labels([]),
        ["plaintenant"] = Labels(new() { [InjectionLabels.Tenant] = "globex" }),
        ["notenant"] = Labels(new() { [InjectionLabels.Inject] = "enabled" }),
        ["kube-system"] = Labels(new() { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" }),
        [OperatorNamespace] = Labels(new() { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" }),
    };

    private static NamespaceMetadata Labels(Dictionary<string, string> labels) => new(labels, new Dictionary<string, string>());

    public async Task<ReviewOutcome> ReviewAsync(JsonObject pod, string ns = "agents", bool dryRun = false)
    {
        var review = AdmissionFixtures.Review(pod, ns, dryRun: dryRun);
        var answer = await Webhook.ReviewAsync(Encoding.UTF8.GetBytes(review.ToJsonString()), CancellationToken.None);
        if (answer.StatusCode != 200)
        {
            return new ReviewOutcome(answer.StatusCode, null, pod, answer.Body);
        }

        var body = JsonNode.Parse(answer.Body)!.AsObject();
        Assert.Equal("admission.k8s.io/v1", body["apiVersion"]!.ToString());
        Assert.Equal("AdmissionReview", body["kind"]!.ToString());
        var response = body["response"]!.AsObject();
        Assert.Equal(review["request"]!["uid"]!.ToString(), response["uid"]!.ToString());
        var patched = pod;
        if (response["patch"] is { } patch)
        {
            Assert.Equal("JSONPatch", response["patchType"]!.ToString());
            patched = JsonPatches.Apply(pod, Encoding.UTF8.GetString(Convert.FromBase64String(patch.ToString())));
        }

        return new ReviewOutcome(answer.StatusCode, response, patched, answer.Body);
    }
}
