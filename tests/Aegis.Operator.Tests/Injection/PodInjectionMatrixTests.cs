using System.Text.Json.Nodes;
using Aegis.Operator.Injection;
using Aegis.Operator.Sidecar;
using Aegis.TestSupport.Admission;

namespace Aegis.Operator.Tests.Injection;

/// <summary>Real AdmissionReviews for a matrix of pods; each case checks the pod that results from applying the returned patch.</summary>
public class PodInjectionMatrixTests
{
    private const string Proxy = SidecarOptions.ProxyContainerName;

    /// <summary>One row: the namespace, how the realistic pod is changed, and what must hold afterwards.</summary>
    private sealed record Case(string Namespace, Action<JsonObject> Change, Action<ReviewOutcome> Expect);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["namespace opted in: proxy appended, every app container proxied, init containers untouched"] = new("agents", _ => { }, r =>
        {
            Assert.True(r.Allowed);
            Assert.Equal(["agent", "metrics", Proxy], r.Containers.Select(c => c!["name"]!.ToString()));
            foreach (var app in new[] { "agent", "metrics" })
            {
                Assert.Equal("http://127.0.0.1:15001", r.Env(app, "HTTP_PROXY"));
                Assert.Equal("http://127.0.0.1:15001", r.Env(app, "HTTPS_PROXY"));
                Assert.Equal("http://127.0.0.1:15001", r.Env(app, "https_proxy"));
                Assert.Contains(".svc.cluster.local", r.Env(app, "NO_PROXY")!.Split(','));
            }

            Assert.Equal("info", r.Env("agent", "LOG_LEVEL"));
            Assert.NotNull(r.Container("agent")["env"]!.AsArray().Single(e => e!["name"]!.ToString() == "OPENAI_API_KEY")!["valueFrom"]);
            var init = Assert.Single(r.Pod["spec"]!["initContainers"]!.AsArray());
            Assert.Null(init!["env"]);
            Assert.Equal("true", r.Pod["metadata"]!["annotations"]!["prometheus.io/scrape"]!.ToString());
            Assert.Equal("agent", r.Pod["metadata"]!["annotations"]!["kubectl.kubernetes.io/default-container"]!.ToString());
            Assert.Equal(new JsonObject { ["version"] = 1, ["mode"] = "proxy", ["tenant"] = "acme", ["agentId"] = "payments-bot", ["containers"] = new JsonArray(Proxy), ["initContainers"] = new JsonArray() }, r.Status, JsonNode.DeepEquals);
        }),
        ["proxy container: hardened, sized, and configured with the pod's identity"] = new("agents", _ => { }, r =>
        {
            var proxy = r.Container(Proxy);
            Assert.Equal("envoyproxy/envoy:v1.35.0", proxy["image"]!.ToString());
            var security = proxy["securityContext"]!;
            Assert.True(security["runAsNonRoot"]!.GetValue<bool>());
            Assert.True(security["readOnlyRootFilesystem"]!.GetValue<bool>());
            Assert.False(security["allowPrivilegeEscalation"]!.GetValue<bool>());
            Assert.Equal("ALL", security["capabilities"]!["drop"]![0]!.ToString());
            Assert.Equal("64Mi", proxy["resources"]!["requests"]!["memory"]!.ToString());
            Assert.Equal(["--log-level", "warning"], proxy["args"]!.AsArray().Skip(2).Take(2).Select(a => a!.ToString()));
            Assert.Null(proxy["env"]);
            var extensions = r.Bootstrap["static_resources"]!["listeners"]![0]!["filter_chains"]![0]!["filters"]![0]!["typed_config"]!["route_config"]!["virtual_hosts"]![0]!["routes"]!
                .AsArray().Select(route => route!["typed_per_filter_config"]!["envoy.filters.http.ext_authz"]!["check_settings"]!["context_extensions"]!);
            Assert.All(extensions, e => Assert.True(JsonNode.DeepEquals(new JsonObject { ["tenant"] = "acme", ["agent_id"] = "payments-bot" }, e)));
        }),
        ["namespace not opted in: untouched"] = new("plain", _ => { }, NotInjected),
        ["pod label false in an opted-in namespace: untouched"] = new("agents", p => Label(p, InjectionLabels.Inject, "false"), NotInjected),
        ["pod annotation false in an opted-in namespace: untouched"] = new("agents", p => Annotate(p, InjectionLabels.Inject, "no"), NotInjected),
        ["pod label true in a plain namespace, tenant from the pod label: injected"] = new("plain", p =>
        {
            Label(p, InjectionLabels.Inject, "true");
            Label(p, InjectionLabels.Tenant, "globex");
        }, r =>
        {
            Assert.True(r.Patched);
            Assert.Equal("globex", r.Status!["tenant"]!.ToString());
        }),
        ["pod label beats pod annotation"] = new("plain", p =>
        {
            Label(p, InjectionLabels.Inject, "y");
            Annotate(p, InjectionLabels.Inject, "false");
            Label(p, InjectionLabels.Tenant, "globex");
        }, r => Assert.Contains(r.Containers, c => c!["name"]!.ToString() == Proxy)),
        ["pod annotation true opts in when there is no label"] = new("plain", p =>
        {
            Annotate(p, InjectionLabels.Inject, "on");
            Label(p, InjectionLabels.Tenant, "globex");
        }, r => Assert.Contains(r.Containers, c => c!["name"]!.ToString() == Proxy)),
        ["pod label with an unknown value: rejected, naming the label"] = new("agents", p => Label(p, InjectionLabels.Inject, "maybe"), r =>
        {
            Assert.False(r.Allowed);
            Assert.Contains("pod label aegis.dev/inject: \"maybe\" is not one of true, false", r.Message, StringComparison.Ordinal);
            Assert.Equal(403, r.Response!["status"]!["code"]!.GetValue<int>());
        }),
        ["host network: untouched, with a warning"] = new("agents", p => p["spec"]!["hostNetwork"] = true, r =>
        {
            NotInjected(r);
            Assert.Contains("host-network", r.Response!["warnings"]![0]!.ToString(), StringComparison.Ordinal);
        }),
        ["system namespace: untouched even when labelled"] = new("kube-system", _ => { }, NotInjected),
        ["the operator's own namespace: untouched even when labelled"] = new(WebhookHarness.OperatorNamespace, _ => { }, NotInjected),
        ["opted in without a tenant: rejected, saying which label to add"] = new("notenant", _ => { }, r =>
        {
            Assert.False(r.Allowed);
            Assert.False(r.Patched);
            Assert.Contains("kubectl label namespace notenant aegis.dev/tenant=<tenant>", r.Message, StringComparison.Ordinal);
        }),
        ["pod tenant label differing from the namespace's: rejected"] = new("agents", p => Label(p, InjectionLabels.Tenant, "globex"), r =>
        {
            Assert.False(r.Allowed);
            Assert.Contains("differs from its namespace agents's label aegis.dev/tenant=\"acme\"", r.Message, StringComparison.Ordinal);
        }),
        ["agent id label beats the service account"] = new("agents", p => Label(p, InjectionLabels.AgentId, "payments-v2"), r => Assert.Equal("payments-v2", r.Status!["agentId"]!.ToString())),
        ["no service account: agent id default"] = new("agents", p => p["spec"]!.AsObject().Remove("serviceAccountName"), r => Assert.Equal("default", r.Status!["agentId"]!.ToString())),
        ["transparent annotation: iptables init container last, with NET_ADMIN only"] = new("agents", p => Annotate(p, InjectionLabels.Interception, "transparent"), r =>
        {
            var init = r.Pod["spec"]!["initContainers"]!.AsArray();
            Assert.Equal(["migrate", SidecarOptions.InitContainerName], init.Select(c => c!["name"]!.ToString()));
            var security = init[1]!["securityContext"]!;
            Assert.Equal(["NET_ADMIN", "NET_RAW"], security["capabilities"]!["add"]!.AsArray().Select(c => c!.ToString()));
            Assert.Contains("--uid-owner 101 -j RETURN", init[1]!["command"]![2]!.ToString(), StringComparison.Ordinal);
            Assert.Contains("--to-ports 15001", init[1]!["command"]![2]!.ToString(), StringComparison.Ordinal);
            Assert.Equal("transparent", r.Status!["mode"]!.ToString());
            Assert.Equal(new JsonArray(SidecarOptions.InitContainerName), r.Status!["initContainers"], JsonNode.DeepEquals);
        }),
        ["transparent annotation on a pod without init containers: the list is created"] = new("agents", p =>
        {
            p["spec"]!.AsObject().Remove("initContainers");
            Annotate(p, InjectionLabels.Interception, "transparent");
        }, r => Assert.Equal([SidecarOptions.InitContainerName], r.Pod["spec"]!["initContainers"]!.AsArray().Select(c => c!["name"]!.ToString()))),
        ["unknown interception annotation: rejected"] = new("agents", p => Annotate(p, InjectionLabels.Interception, "magic"), r =>
        {
            Assert.False(r.Allowed);
            Assert.Contains("aegis.dev/interception: \"magic\" is not one of proxy, transparent", r.Message, StringComparison.Ordinal);
        }),
        ["a pod's own HTTP_PROXY is replaced, not duplicated"] = new("agents", p =>
            p["spec"]!["containers"]![0]!["env"]!.AsArray().Add(new JsonObject { ["name"] = "HTTP_PROXY", ["value"] = "http://elsewhere:3128" }), r =>
        {
            Assert.Single(r.Container("agent")["env"]!.AsArray(), e => e!["name"]!.ToString() == "HTTP_PROXY");
            Assert.Equal("http://127.0.0.1:15001", r.Env("agent", "HTTP_PROXY"));
        }),
        ["a pod without annotations gets the status annotation"] = new("agents", p => p["metadata"]!.AsObject().Remove("annotations"), r => Assert.NotNull(r.Status)),
        ["a single-container pod with an explicit default container keeps it"] = new("agents", p =>
        {
            p["spec"]!["containers"]!.AsArray().RemoveAt(1);
            Annotate(p, "kubectl.kubernetes.io/default-container", "agent");
        }, r =>
        {
            Assert.Equal(["agent", Proxy], r.Containers.Select(c => c!["name"]!.ToString()));
            Assert.Equal("agent", r.Pod["metadata"]!["annotations"]!["kubectl.kubernetes.io/default-container"]!.ToString());
        }),
        ["already injected: a second pass changes nothing"] = new("agents", Injected, r =>
        {
            Assert.True(r.Allowed);
            Assert.False(r.Patched);
        }),
        ["a container another webhook added after injection gets the proxy environment only"] = new("agents", p =>
        {
            Injected(p);
            p["spec"]!["containers"]!.AsArray().Add(new JsonObject { ["name"] = "late", ["image"] = "example/late:1" });
        }, r =>
        {
            Assert.Single(r.Containers, c => c!["name"]!.ToString() == Proxy);
            Assert.Equal("http://127.0.0.1:15001", r.Env("late", "HTTPS_PROXY"));
            Assert.Null(r.Container(Proxy)["env"]);
        }),
    };

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Review_PodMatrix_ResultingPodIsAsExpected(string name)
    {
        var row = Cases[name];
        var pod = AdmissionFixtures.RealisticPod(row.Namespace);
        row.Change(pod);

        var outcome = await new WebhookHarness().ReviewAsync(pod, row.Namespace);

        Assert.Equal(200, outcome.StatusCode);
        row.Expect(outcome);
    }

    private static void NotInjected(ReviewOutcome r)
    {
        Assert.True(r.Allowed);
        Assert.False(r.Patched);
        Assert.DoesNotContain(r.Containers, c => c!["name"]!.ToString() == Proxy);
    }

    private static void Label(JsonObject pod, string key, string value) => ((JsonObject)pod["metadata"]!["labels"]!)[key] = value;

    private static void Annotate(JsonObject pod, string key, string value)
    {
        var metadata = pod["metadata"]!.AsObject();
        if (metadata["annotations"] is not JsonObject annotations)
        {
            metadata["annotations"] = annotations = [];
        }

        annotations[key] = value;
    }

    /// <summary>Replaces the pod with what the webhook made of it (a first pass).</summary>
    private static void Injected(JsonObject pod)
    {
        var first = new WebhookHarness().ReviewAsync(pod).GetAwaiter().GetResult();
        Assert.True(first.Patched);
        foreach (var (key, value) in first.Pod.ToList())
        {
            pod[key] = value?.DeepClone();
        }
    }
}
