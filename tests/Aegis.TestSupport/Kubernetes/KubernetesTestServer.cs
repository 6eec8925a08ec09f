using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Aegis.Policy.Loading;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>A resource type the server serves.</summary>
public sealed record ResourceType(string Group, string Version, string Plural, string Kind, bool Namespaced, bool HasStatus, JsonObject? Schema, string[]? ShortNames = null, string[]? Categories = null)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";
}

/// <summary>
/// An in-process Kubernetes API server for tests: a real Kestrel on loopback speaking the REST protocol, strict
/// where clusters are strict. CRUD for core kinds and for CRDs (from crds/*.yaml or created through the API),
/// resourceVersion on every write and 409 on stale updates, generation bumped by spec changes only, the status
/// subresource, merge and JSON patch, label selectors, finalizers, schema validation (types, required, enums,
/// patterns) with 422, and watches as newline-delimited JSON with bookmarks and 410 Gone for compacted history.
/// </summary>
public sealed partial class KubernetesTestServer : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ResourceType> _types = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, JsonObject> _objects = new(StringComparer.Ordinal);
    private readonly List<(long Rv, string Type, ResourceType Resource, JsonObject Object)> _history = [];
    private readonly List<Watcher> _watchers = [];
    private readonly WebApplication _app;
    private long _rv = 1000;
    private long _compactedThrough;
    private readonly Dictionary<string, int> _racingWriters = new(StringComparer.Ordinal);
    private static readonly TaskCompletionSource _openGate = Opened();
    private TaskCompletionSource _watchGate = _openGate;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);

    private KubernetesTestServer(WebApplication app)
    {
        _app = app;
        foreach (var type in new[]
        {
            new ResourceType("", "v1", "namespaces", "Namespace", false, true, null),
            new ResourceType("", "v1", "configmaps", "ConfigMap", true, false, null),
            new ResourceType("", "v1", "secrets", "Secret", true, false, null),
            new ResourceType("", "v1", "events", "Event", true, false, null),
            new ResourceType("", "v1", "pods", "Pod", true, true, null),
            new ResourceType("coordination.k8s.io", "v1", "leases", "Lease", true, false, null),
            new ResourceType("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false, false, null),
            new ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, true, null),

            // What the Helm chart and the kustomize config install, so their rendered output can be applied.
            new ResourceType("", "v1", "services", "Service", true, true, null),
            new ResourceType("", "v1", "serviceaccounts", "ServiceAccount", true, false, null),
            new ResourceType("apps", "v1", "deployments", "Deployment", true, true, null),
            new ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, true, null),
            new ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, true, null),
            new ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, false, null),
            new ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", true, false, null),
            new ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, false, null),
            new ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, false, null),
            new ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, false, null),
        })
        {
            _types[Key(type.Group, type.Plural)] = type;
        }
    }

    /// <summary>Base URL for a client.</summary>
    public string Url { get; private set; } = "";

    /// <summary>How often watches that asked for bookmarks get one.</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Starts a server with the CRDs in <paramref name="crdFiles"/> registered.</summary>
    public static async Task<KubernetesTestServer> StartAsync(IEnumerable<string>? crdFiles = null)
    {
        var app = LoopbackPorts.CreateApp();
        var server = new KubernetesTestServer(app);
        foreach (var file in crdFiles ?? [])
        {
            var doc = YamlJson.Parse(File.ReadAllText(file), file, []).Single()!.AsObject();
            server.Store(server._types[Key("apiextensions.k8s.io", "customresourcedefinitions")], null, doc, "ADDED");
            server.Register(doc);
        }

        server.MapAuth(app);
        app.Map("/{**path}", (Delegate)server.HandleSafelyAsync);
        await app.StartAsync();
        server.Url = LoopbackPorts.BaseUrl(app);
        return server;
    }

    private async Task<IResult> HandleSafelyAsync(HttpContext context)
    {
        try
        {
            return await HandleAsync(context);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException or System.Text.Json.JsonException or ArgumentException)
        {
            // A bug or an odd request in the test server shows up as a Status the client can print, not a bare 500.
            return StatusResult(HttpStatusCode.InternalServerError, "InternalError", $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Ends every open watch stream, as a server does after its watch timeout.</summary>
    public void CutWatches()
    {
        lock (_lock)
        {
            foreach (var w in _watchers)
            {
                w.Events.Writer.TryComplete();
            }

            _watchers.Clear();
        }
    }

    /// <summary>
    /// The next <paramref name="count"/> updates or patches of <paramref name="plural"/> lose a race: just before each,
    /// another writer changes the object, so it answers 409 Conflict as a real server would.
    /// </summary>
    public void RaceNextWrites(string plural, int count)
    {
        lock (_lock)
        {
            _racingWriters[plural] = count;
        }
    }

    /// <summary>
    /// New watch requests wait until <see cref="ReleaseWatches"/>: with <see cref="CutWatches"/> and <see cref="Compact"/>
    /// a test can make a client fall behind the history, so that its next watch is answered 410 Gone.
    /// </summary>
    public void HoldWatches() => Interlocked.CompareExchange(ref _watchGate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), _openGate);

    /// <summary>Lets held watch requests through.</summary>
    public void ReleaseWatches() => Interlocked.Exchange(ref _watchGate, _openGate).TrySetResult();

    /// <summary>How many list (<paramref name="verb"/> "list"), watch ("watch") or single-object read ("get") requests a resource has had.</summary>
    public int Calls(string verb, string plural) => _calls.GetValueOrDefault($"{verb} {plural}");

    private static TaskCompletionSource Opened()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    private void Count(string verb, ResourceType type) => _calls.AddOrUpdate($"{verb} {type.Plural}", 1, (_, n) => n + 1);

    /// <summary>How many of the races <see cref="RaceNextWrites"/> set up have not happened yet.</summary>
    public int RacesLeft(string plural)
    {
        lock (_lock)
        {
            return _racingWriters.GetValueOrDefault(plural);
        }
    }

    /// <summary>Forgets the event history, so a watch from any earlier resourceVersion gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _history.Clear();
            _compactedThrough = _rv;
        }
    }

    /// <summary>The current objects of a resource (for assertions).</summary>
    public IReadOnlyList<JsonObject> Objects(string group, string plural, string? ns = null)
    {
        lock (_lock)
        {
            var prefix = Key(group, plural) + "/" + (ns is null ? "" : ns + "/");
            return [.. _objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(o => (JsonObject)o.Value.DeepClone())];
        }
    }

    private static string Key(string group, string plural) => $"{group}/{plural}";

    private void Register(JsonObject crd)
    {
        var spec = crd["spec"]!;
        var version = spec["versions"]!.AsArray().First(v => v!["storage"]?.GetValue<bool>() == true)!;
        var type = new ResourceType(
            spec["group"]!.ToString(),
            version["name"]!.ToString(),
            spec["names"]!["plural"]!.ToString(),
            spec["names"]!["kind"]!.ToString(),
            spec["scope"]!.ToString() == "Namespaced",
            version["subresources"]?["status"] is not null,
            version["schema"]?["openAPIV3Schema"]?.AsObject(),
            spec["names"]!["shortNames"]?.AsArray().Select(n => n!.ToString()).ToArray(),
            spec["names"]!["categories"]?.AsArray().Select(n => n!.ToString()).ToArray());
        lock (_lock)
        {
            _types[Key(type.Group, type.Plural)] = type;
        }
    }

    public async ValueTask DisposeAsync()
    {
        CutWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class Watcher(ResourceType type, string? ns, LabelSelector selector, bool bookmarks)
    {
        public ResourceType Type { get; } = type;
        public string? Namespace { get; } = ns;
        public LabelSelector Selector { get; } = selector;
        public bool Bookmarks { get; } = bookmarks;
        public Channel<string> Events { get; } = Channel.CreateUnbounded<string>();
    }

    private static IResult StatusResult(HttpStatusCode code, string reason, string message) => Results.Json(new JsonObject
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = (int)code,
    }, statusCode: (int)code);
}
