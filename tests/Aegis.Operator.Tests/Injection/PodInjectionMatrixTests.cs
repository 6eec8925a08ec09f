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
        ["namespace enforced: aegis-init first, proxy appended, every app container proxied, NO_PROXY loopback only"] = new("agents", _ => { }, r =>
        {
            Assert.True(r.Allowed);
            Assert.Equal(["agent", "metrics", Proxy], r.Containers.Select(c => c!["name"]!.ToString()));
            Assert.Equal([SidecarOptions.InitContainerName, "migrate"], r.InitContainers.Select(c => c!["name"]!.ToString()));
            foreach (var app in new[] { "agent", "metrics" })
            {
                Assert.Equal("http://127.0.0.1:15001", r.Env(app, "HTTP_PROXY"));
                Assert.Equal("http://127.0.0.1:15001", r.Env(app, "HTTPS_PROXY"));
                Assert.Equal("http://127.0.0.1:15001", r.Env(app, "https_proxy"));
                Assert.Equal("localhost,127.0.0.1,::1", r.Env(app, "NO_PROXY"));
                Assert.Equal("localhost,127.0.0.1,::1", r.Env(app, "no_proxy"));
            }

            Assert.Equal("info", r.Env("agent", "LOG_LEVEL"));
            Assert.NotNull(r.Container("agent")["env"]!.AsArray().Single(e => e!["name"]!.ToString() == "OPENAI_API_KEY")!["valueFrom"]);
            Assert.Null(r.InitContainers[1]!["env"]);
            Assert.Equal("true", r.Pod["metadata"]!["annotations"]!["prometheus.io/scrape"]!.ToString());
            Assert.Equal("agent", r.Pod["metadata"]!["annotations"]!["kubectl.kubernetes.io/default-container"]!.ToString());
            Assert.Equal(new JsonObject
            {
                ["version"] = 2, ["mode"] = "transparent", ["tenant"] = "acme", ["agentId"] = "payments-bot", ["containers"] = new JsonArray(Proxy),
                ["initContainers"] = new JsonArray(SidecarOptions.InitContainerName), ["volumes"] = new JsonArray(SidecarOptions.RuntimeVolumeName),
            }, r.Status, JsonNode.DeepEquals);
        }),
        ["proxy container: hardened, sized, admin socket in its own volume, configured with the pod's identity and the decision CA"] = new("agents", _ => { }, r =>
        {
            var proxy = r.Container(Proxy);
            Assert.Equal("envoyproxy/envoy:v1.35.0", proxy["image"]!.ToString());
            var security = proxy["securityContext"]!;
            Assert.True(security["runAsNonRoot"]!.GetValue<bool>());
            Assert.Equal(101, security["runAsUser"]!.GetValue<long>());
            Assert.True(security["readOnlyRootFilesystem"]!.GetValue<bool>());
            Assert.False(security["allowPrivilegeEscalation"]!.GetValue<bool>());
            Assert.Equal("ALL", security["capabilities"]!["drop"]![0]!.ToString());
            Assert.Equal("64Mi", proxy["resources"]!["requests"]!["memory"]!.ToString());
            Assert.Equal(["--log-level", "warning"], proxy["args"]!.AsArray().Skip(2).Take(2).Select(a => a!.ToString()));
            Assert.Null(proxy["env"]);
            Assert.Equal(SidecarOptions.RuntimeDirectory, proxy["volumeMounts"]![0]!["mountPath"]!.ToString());
            Assert.Contains(r.Pod["spec"]!["volumes"]!.AsArray(), v => v!["name"]!.ToString() == SidecarOptions.RuntimeVolumeName && v["emptyDir"] is not null);
            Assert.Equal(SidecarOptions.AdminSocketPath, r.Bootstrap["admin"]!["address"]!["pipe"]!["path"]!.ToString());
            var listeners = r.Bootstrap["static_resources"]!["listeners"]!.AsArray();
            var extensions = listeners[0]!["filter_chains"]![0]!["filters"]![0]!["typed_config"]!["route_config"]!["virtual_hosts"]![0]!["routes"]!
                .AsArray().Select(route => route!["typed_per_filter_config"]!["envoy.filters.http.ext_authz"]!["check_settings"]!["context_extensions"]!);
            Assert.All(extensions, e => Assert.True(JsonNode.DeepEquals(new JsonObject { ["tenant"] = "acme", ["agent_id"] = "payments-bot" }, e)));
            var decision = r.Bootstrap["static_resources"]!["clusters"]!.AsArray().Single(c => c!["name"]!.ToString() == EnvoyBootstrap.DecisionCluster)!;
            Assert.Equal(WebhookHarness.DecisionCa, decision["transport_socket"]!["typed_config"]!["common_tls_context"]!["validation_context"]!["trusted_ca"]!["inline_string"]!.ToString());
        }),
        ["init container: the generated interception script, root with NET_ADMIN and NET_RAW only"] = new("agents", _ => { }, r =>
        {
            var init = r.InitContainers[0]!;
            Assert.Equal(["sh", "-c", InterceptionRules.Script(new SidecarOptions())], init["command"]!.AsArray().Select(c => c!.ToString()));
            var security = init["securityContext"]!;
            Assert.Equal(["NET_ADMIN", "NET_RAW"], security["capabilities"]!["add"]!.AsArray().Select(c => c!.ToString()));
            Assert.Equal(["ALL"], security["capabilities"]!["drop"]!.AsArray().Select(c => c!.ToString()));
            Assert.False(security["allowPrivilegeEscalation"]!.GetValue<bool>());
        }),
        ["a pod without init containers: the list is created with aegis-init"] = new("agents", p => p["spec"]!.AsObject().Remove("initContainers"),
            r => Assert.Equal([SidecarOptions.InitContainerName], r.InitContainers.Select(c => c!["name"]!.ToString()))),
        ["namespace not enforced: untouched"] = new("plain", _ => { }, NotInjected),
        ["pod label false in an enforced namespace: refused, naming the exemption annotation"] = new("agents", p => Label(p, InjectionLabels.Inject, "false"), r =>
        {
            Refused(r, "pod label aegis.dev/inject=false: pods in namespace agents (aegis.dev/inject=enabled) cannot opt out");
            Assert.Contains(InjectionLabels.ExemptServiceAccounts, r.Message, StringComparison.Ordinal);
        }),
        ["pod annotation false in an enforced namespace: refused"] = new("agents", p => Annotate(p, InjectionLabels.Inject, "no"),
            r => Refused(r, "pod annotation aegis.dev/inject=no: pods in namespace agents (aegis.dev/inject=enabled) cannot opt out")),
        ["exempt service account in an enforced namespace: untouched, with a warning"] = new("exempting", _ => { }, r =>
        {
            NotInjected(r);
            Assert.Contains("service account payments-bot is exempt in namespace exempting", r.Response!["warnings"]![0]!.ToString(), StringComparison.Ordinal);
        }),
        ["service account not on the exemption list: injected"] = new("exempting", p => p["spec"]!["serviceAccountName"] = "payments-bot-2", r => Assert.True(r.Patched)),
        ["exempt service account whose pod opts in: injected"] = new("exempting", p => Label(p, InjectionLabels.Inject, "true"), r => Assert.True(r.Patched)),
        ["pod label true in a namespace that is not enforced: injected, tenant from the namespace"] = new("plaintenant", p => Label(p, InjectionLabels.Inject, "true"), r =>
        {
            Assert.True(r.Patched);
            Assert.Equal("globex", r.Status!["tenant"]!.ToString());
        }),
        ["pod label true where the namespace has no tenant: refused, naming the label (a pod label is no tenant)"] = new("plain", p =>
        {
            Label(p, InjectionLabels.Inject, "true");
            Label(p, InjectionLabels.Tenant, "globex");
        }, r => Refused(r, "namespace plain has no label aegis.dev/tenant")),
        ["pod label beats pod annotation"] = new("plaintenant", p =>
        {
            Label(p, InjectionLabels.Inject, "y");
            Annotate(p, InjectionLabels.Inject, "false");
        }, r => Assert.Contains(r.Containers, c => c!["name"]!.ToString() == Proxy)),
        ["pod annotation true opts in when there is no label"] = new("plaintenant", p => Annotate(p, InjectionLabels.Inject, "on"),
            r => Assert.Contains(r.Containers, c => c!["name"]!.ToString() == Proxy)),
        ["pod label with an unknown value: refused, naming the label"] = new("agents", p => Label(p, InjectionLabels.Inject, "maybe"), r =>
        {
            Refused(r, "pod label aegis.dev/inject: \"maybe\" is not one of true, false");
            Assert.Equal(403, r.Response!["status"]!["code"]!.GetValue<int>());
        }),
        ["host network in an enforced namespace: refused"] = new("agents", p => p["spec"]!["hostNetwork"] = true, r => Refused(r, "pod spec.hostNetwork: true is refused")),
        ["system namespace: untouched even when labelled"] = new("kube-system", _ => { }, NotInjected),
        ["the operator's own namespace: untouched even when labelled"] = new(WebhookHarness.OperatorNamespace, _ => { }, NotInjected),
        ["enforced without a tenant: refused, saying which label to add"] = new("notenant", _ => { }, r =>
        {
            Refused(r, "kubectl label namespace notenant aegis.dev/tenant=<tenant>");
            Assert.False(r.Patched);
        }),
        ["pod tenant label differing from the namespace's: ignored with a warning, the namespace's tenant used"] = new("agents", p => Label(p, InjectionLabels.Tenant, "globex"), r =>
        {
            Assert.True(r.Patched);
            Assert.Equal("acme", r.Status!["tenant"]!.ToString());
            Assert.Contains("pod label aegis.dev/tenant=\"globex\" is ignored", r.Response!["warnings"]![0]!.ToString(), StringComparison.Ordinal);
        }),
        ["agent id label beats the service account"] = new("agents", p => Label(p, InjectionLabels.AgentId, "payments-v2"), r => Assert.Equal("payments-v2", r.Status!["agentId"]!.ToString())),
        ["no service account: agent id default"] = new("agents", p => p["spec"]!.AsObject().Remove("serviceAccountName"), r => Assert.Equal("default", r.Status!["agentId"]!.ToString())),
        ["interception annotation proxy (the old opt-out of the redirect): refused"] = new("agents", p => Annotate(p, InjectionLabels.Interception, "proxy"),
            r => Refused(r, "pod annotation aegis.dev/interception: \"proxy\" is refused: interception is always transparent")),
        ["interception annotation transparent: injected"] = new("agents", p => Annotate(p, InjectionLabels.Interception, "transparent"), r => Assert.True(r.Patched)),
        ["a pod's own HTTP_PROXY: refused, naming the container and the variable"] = new("agents", p =>
            p["spec"]!["containers"]![0]!["env"]!.AsArray().Add(new JsonObject { ["name"] = "HTTP_PROXY", ["value"] = "http://elsewhere:3128" }),
            r => Refused(r, "pod spec.containers[0] (agent): env HTTP_PROXY: Aegis sets this variable")),
        ["a pod's own NO_PROXY listing cluster names: refused"] = new("agents", p =>
            p["spec"]!["containers"]![0]!["env"]!.AsArray().Add(new JsonObject { ["name"] = "NO_PROXY", ["value"] = ".svc,.cluster.local" }),
            r => Refused(r, "pod spec.containers[0] (agent): env NO_PROXY")),
        ["a proxy variable with exactly Aegis's value: accepted (a reinvocation looks like this)"] = new("agents", p =>
            p["spec"]!["containers"]![0]!["env"]!.AsArray().Add(new JsonObject { ["name"] = "HTTPS_PROXY", ["value"] = "http://127.0.0.1:15001" }), r =>
        {
            Assert.True(r.Patched);
            Assert.Single(r.Container("agent")["env"]!.AsArray(), e => e!["name"]!.ToString() == "HTTPS_PROXY");
        }),
        ["a proxy variable from a secret: refused"] = new("agents", p =>
            p["spec"]!["containers"]![1]!["env"] = new JsonArray(new JsonObject { ["name"] = "https_proxy", ["valueFrom"] = new JsonObject { ["secretKeyRef"] = new JsonObject { ["name"] = "p", ["key"] = "k" } } }),
            r => Refused(r, "pod spec.containers[1] (metrics): env https_proxy")),
        ["an AEGIS_ variable: refused"] = new("agents", p =>
            p["spec"]!["containers"]![0]!["env"]!.AsArray().Add(new JsonObject { ["name"] = "AEGIS_DECISION_ADDRESS", ["value"] = "evil:9191" }),
            r => Refused(r, "pod spec.containers[0] (agent): env AEGIS_DECISION_ADDRESS: variables starting with AEGIS_ are reserved")),
        ["a proxy variable in an init container: refused"] = new("agents", p =>
            p["spec"]!["initContainers"]![0]!["env"] = new JsonArray(new JsonObject { ["name"] = "HTTP_PROXY", ["value"] = "http://127.0.0.1:15001" }),
            r => Refused(r, "pod spec.initContainers[0] (migrate): env HTTP_PROXY")),
        ["a pod's own aegis-proxy container: refused, not skipped"] = new("agents", p =>
            p["spec"]!["containers"]!.AsArray().Add(new JsonObject { ["name"] = Proxy, ["image"] = "busybox", ["command"] = new JsonArray("sleep", "infinity") }),
            r => Refused(r, "pod spec.containers[2] (aegis-proxy): a container named aegis-proxy that Aegis did not inject is refused")),
        ["a pod's own aegis-init container: refused"] = new("agents", p =>
            p["spec"]!["initContainers"]!.AsArray().Add(new JsonObject { ["name"] = SidecarOptions.InitContainerName, ["image"] = "busybox", ["command"] = new JsonArray("true") }),
            r => Refused(r, "pod spec.initContainers[1] (aegis-init): a container named aegis-init that Aegis did not inject is refused")),
        ["a container named aegis-anything: refused"] = new("agents", p => p["spec"]!["containers"]![1]!["name"] = "aegis-helper",
            r => Refused(r, "pod spec.containers[1] (aegis-helper): container names starting with aegis- are reserved")),
        ["a privileged container: refused"] = new("agents", p => p["spec"]!["containers"]![1]!["securityContext"] = new JsonObject { ["privileged"] = true },
            r => Refused(r, "pod spec.containers[1] (metrics): securityContext.privileged is refused")),
        ["NET_ADMIN added (an init container could flush the rules): refused"] = new("agents", p =>
            p["spec"]!["initContainers"]![0]!["securityContext"] = new JsonObject { ["capabilities"] = new JsonObject { ["add"] = new JsonArray("CAP_NET_ADMIN") } },
            r => Refused(r, "pod spec.initContainers[0] (migrate): securityContext.capabilities.add NET_ADMIN is refused")),
        ["a container running as the sidecar's uid: refused"] = new("agents", p => p["spec"]!["containers"]![0]!["securityContext"] = new JsonObject { ["runAsUser"] = 101 },
            r => Refused(r, "pod spec.containers[0] (agent): securityContext.runAsUser 101 is refused")),
        ["a pod running as the sidecar's uid: refused"] = new("agents", p => p["spec"]!["securityContext"]!["runAsUser"] = 101,
            r => Refused(r, "pod spec.securityContext.runAsUser 101 is refused")),
        ["the pod's own DNS servers: refused"] = new("agents", p =>
        {
            p["spec"]!["dnsPolicy"] = "None";
            p["spec"]!["dnsConfig"] = new JsonObject { ["nameservers"] = new JsonArray("203.0.113.53") };
        }, r => Refused(r, "pod spec.dnsPolicy None / spec.dnsConfig.nameservers is refused")),
        ["a volume named like the sidecar's: refused"] = new("agents", p => p["spec"]!["volumes"]!.AsArray().Add(new JsonObject { ["name"] = SidecarOptions.RuntimeVolumeName, ["hostPath"] = new JsonObject { ["path"] = "/" } }),
            r => Refused(r, "pod spec.volumes (aegis-proxy-run): volume names starting with aegis- are reserved")),
        ["an app container mounting the sidecar's volume (its admin socket): refused"] = new("agents", p =>
            p["spec"]!["containers"]![1]!["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = SidecarOptions.RuntimeVolumeName, ["mountPath"] = "/x" }),
            r => Refused(r, "pod spec.containers[1] (metrics): volumeMounts aegis-proxy-run")),
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
            Assert.Single(r.InitContainers, c => c!["name"]!.ToString() == SidecarOptions.InitContainerName);
            Assert.Equal("http://127.0.0.1:15001", r.Env("late", "HTTPS_PROXY"));
            Assert.Null(r.Container(Proxy)["env"]);
        }),
        ["an injected pod whose sidecar was then altered (another bootstrap): refused"] = new("agents", p =>
        {
            Injected(p);
            p["spec"]!["containers"]![2]!["args"]![1] = "{}";
        }, r => Refused(r, "a container named aegis-proxy that Aegis did not inject is refused")),
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

    private static void Refused(ReviewOutcome r, string message)
    {
        Assert.False(r.Allowed);
        Assert.False(r.Patched);
        Assert.Contains(message, r.Message, StringComparison.Ordinal);
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
