using System.Net;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Tests;

/// <summary>The in-process API server, driven by the real KubernetesClient, behaves as a cluster does.</summary>
public class KubernetesTestServerTests
{
    /// <summary>An Aegis object as the client sees it (spec and status kept as JSON).</summary>
    public sealed class AegisResource : IKubernetesObject<V1ObjectMeta>
    {
        [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "aegis.dev/v1alpha1";
        [JsonPropertyName("kind")] public string Kind { get; set; } = "AgentPolicy";
        [JsonPropertyName("metadata")] public V1ObjectMeta Metadata { get; set; } = new();
        [JsonPropertyName("spec")] public JsonObject? Spec { get; set; }
        [JsonPropertyName("status")] public JsonObject? Status { get; set; }
    }

    private static readonly string[] CrdFiles = [.. Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml")];

    private static async Task<(KubernetesTestServer Server, Kubernetes Client)> StartAsync()
    {
        var server = await KubernetesTestServer.StartAsync(CrdFiles);
        return (server, new Kubernetes(new KubernetesClientConfiguration { Host = server.Url }));
    }

    private static AegisResource Policy(string name, string mode = "enforce") => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "fin" },
        Spec = JsonNode.Parse($$$"""{"tenant":"acme","mode":"{{{mode}}}","rules":[{"name":"r","match":{"tools":["x"]},"effect":"allow"}]}""")!.AsObject(),
    };

    [Fact]
    public async Task ConfigMaps_CrudWithConflictsAndLabelSelectors()
    {
        var (server, client) = await StartAsync();
        await using var _ = server;
        using var __ = client;

        var created = await client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "bundle-acme", Labels = new Dictionary<string, string> { ["aegis.dev/tenant"] = "acme" } }, Data = new Dictionary<string, string> { ["a"] = "1" } }, "aegis");
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "other" } }, "aegis");

        var duplicate = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "other" } }, "aegis"));
        Assert.Equal(HttpStatusCode.Conflict, duplicate.Response.StatusCode);
        Assert.Contains("AlreadyExists", duplicate.Response.Content, StringComparison.Ordinal);

        var selected = await client.CoreV1.ListNamespacedConfigMapAsync("aegis", labelSelector: "aegis.dev/tenant=acme");
        Assert.Equal(["bundle-acme"], selected.Items.Select(i => i.Metadata.Name));

        created.Data["a"] = "2";
        var updated = await client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "bundle-acme", "aegis");
        Assert.NotEqual(created.Metadata.ResourceVersion, updated.Metadata.ResourceVersion);

        // The same stale object again: 409, as a cluster answers an optimistic-concurrency conflict.
        created.Data["a"] = "3";
        var stale = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "bundle-acme", "aegis"));
        Assert.Equal(HttpStatusCode.Conflict, stale.Response.StatusCode);

        await client.CoreV1.DeleteNamespacedConfigMapAsync("bundle-acme", "aegis");
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReadNamespacedConfigMapAsync("bundle-acme", "aegis"));
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    [Fact]
    public async Task CustomResources_GenerationBumpsOnSpecOnly_StatusThroughItsSubresource()
    {
        var (server, client) = await StartAsync();
        await using var _ = server;
        using var __ = client;
        var policies = new GenericClient(client, "aegis.dev", "v1alpha1", "agentpolicies", disposeClient: false);

        var created = await policies.CreateNamespacedAsync(Policy("p"), "fin");
        Assert.Equal(1, created.Metadata.Generation);

        created.Spec!["mode"] = "shadow";
        var changed = await policies.ReplaceNamespacedAsync(created, "fin", "p");
        Assert.Equal(2, changed.Metadata.Generation);

        var status = await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch("""{"status":{"bundleRevision":"abc","conditions":[{"type":"Ready","status":"True","observedGeneration":2}]}}""", V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "agentpolicies", "p");
        var read = await policies.ReadNamespacedAsync<AegisResource>("fin", "p");
        Assert.Equal(2, read.Metadata.Generation);
        Assert.Equal("abc", read.Status!["bundleRevision"]!.ToString());
        Assert.NotEqual(changed.Metadata.ResourceVersion, read.Metadata.ResourceVersion);

        // Status sent through the main resource is ignored, as with a real status subresource.
        read.Status["bundleRevision"] = "forged";
        read.Metadata.Labels = new Dictionary<string, string> { ["team"] = "pay" };
        var relabelled = await policies.ReplaceNamespacedAsync(read, "fin", "p");
        Assert.Equal("abc", relabelled.Status!["bundleRevision"]!.ToString());
        Assert.Equal(2, relabelled.Metadata.Generation);
        Assert.Equal("pay", relabelled.Metadata.Labels["team"]);
        Assert.NotNull(status);
    }

    [Theory]
    [InlineData("""{"tenant":"acme","mode":"audit","rules":[]}""", "spec.mode: Unsupported value: \"audit\"")]
    [InlineData("""{"mode":"enforce"}""", "spec.tenant: Required value")]
    [InlineData("""{"tenant":"Acme Corp"}""", "spec.tenant: Invalid value: \"Acme Corp\"")]
    [InlineData("""{"tenant":"acme","rules":"none"}""", "spec.rules in body must be of type array")]
    public async Task CustomResources_SchemaViolations_Are422WithTheFieldPath(string spec, string message)
    {
        var (server, client) = await StartAsync();
        await using var _ = server;
        using var __ = client;
        var policies = new GenericClient(client, "aegis.dev", "v1alpha1", "agentpolicies", disposeClient: false);
        var policy = Policy("bad");
        policy.Spec = JsonNode.Parse(spec)!.AsObject();

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => policies.CreateNamespacedAsync(policy, "fin"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        Assert.Contains("AgentPolicy.aegis.dev \\\"bad\\\" is invalid", e.Response.Content, StringComparison.Ordinal);
        Assert.Contains(message.Replace("\"", "\\\"", StringComparison.Ordinal), e.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_FromTheListVersion_SeesEveryChangeInOrderWithBookmarks_And410WhenCompacted()
    {
        var (server, client) = await StartAsync();
        await using var _ = server;
        using var __ = client;
        server.BookmarkInterval = TimeSpan.FromMilliseconds(100);
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "before" } }, "aegis");
        var list = await client.CoreV1.ListNamespacedConfigMapAsync("aegis");

        var seen = new List<(WatchEventType, string)>();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var watching = Task.Run(async () =>
        {
            await foreach (var (type, item) in client.CoreV1.WatchListNamespacedConfigMapAsync("aegis", allowWatchBookmarks: true, resourceVersion: list.Metadata.ResourceVersion, cancellationToken: cancel.Token))
            {
                lock (seen)
                {
                    seen.Add((type, item.Metadata.Name ?? ""));
                }
            }
        });

        await Eventually.TrueAsync(() => server.Calls("watch", "configmaps") == 1, "the watch open");
        var a = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a" } }, "aegis");
        a.Data = new Dictionary<string, string> { ["k"] = "v" };
        await client.CoreV1.ReplaceNamespacedConfigMapAsync(a, "a", "aegis");
        await client.CoreV1.DeleteNamespacedConfigMapAsync("a", "aegis");
        await Eventually.TrueAsync(() =>
        {
            lock (seen)
            {
                return seen.Count(s => s.Item1 != WatchEventType.Bookmark) == 3 && seen.Any(s => s.Item1 == WatchEventType.Bookmark);
            }
        }, "three changes and a bookmark");

        server.CutWatches();
        await watching;
        lock (seen)
        {
            Assert.Equal([(WatchEventType.Added, "a"), (WatchEventType.Modified, "a"), (WatchEventType.Deleted, "a")], seen.Where(s => s.Item1 != WatchEventType.Bookmark));
            Assert.Contains(seen, s => s.Item1 == WatchEventType.Bookmark);
        }

        // A watch from a compacted resourceVersion gets an ERROR event with 410 Gone: the client must re-list.
        server.Compact();
        var errors = new List<Exception>();
        await foreach (var (type, _) in client.CoreV1.WatchListNamespacedConfigMapAsync("aegis", resourceVersion: list.Metadata.ResourceVersion, onError: errors.Add, cancellationToken: cancel.Token))
        {
            Assert.Equal(WatchEventType.Error, type);
        }

        var raw = await new HttpClient().GetStringAsync($"{server.Url}/api/v1/namespaces/aegis/configmaps?watch=true&resourceVersion={list.Metadata.ResourceVersion}", cancel.Token);
        Assert.Contains("\"code\":410", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Finalizers_DeleteMarksThenRemovingTheFinalizerDeletes()
    {
        var (server, client) = await StartAsync();
        await using var _ = server;
        using var __ = client;
        var policies = new GenericClient(client, "aegis.dev", "v1alpha1", "agentpolicies", disposeClient: false);
        var policy = Policy("p");
        policy.Metadata.Finalizers = ["aegis.dev/bundle"];
        await policies.CreateNamespacedAsync(policy, "fin");

        await client.CustomObjects.DeleteNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", "fin", "agentpolicies", "p");
        var marked = await policies.ReadNamespacedAsync<AegisResource>("fin", "p");
        Assert.NotNull(marked.Metadata.DeletionTimestamp);

        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""[{"op":"remove","path":"/metadata/finalizers"}]""", V1Patch.PatchType.JsonPatch), "aegis.dev", "v1alpha1", "fin", "agentpolicies", "p");
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => policies.ReadNamespacedAsync<AegisResource>("fin", "p"));
        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
    }

    [Fact]
    public async Task Discovery_ListsTheAegisGroupAndItsResources()
    {
        var (server, client) = await StartAsync();
        await using var _ = server;
        using var __ = client;
        using var http = new HttpClient();

        var groups = JsonNode.Parse(await http.GetStringAsync(server.Url + "/apis"))!;
        var resources = JsonNode.Parse(await http.GetStringAsync(server.Url + "/apis/aegis.dev/v1alpha1"))!;

        Assert.Contains("aegis.dev", groups["groups"]!.AsArray().Select(g => g!["name"]!.ToString()));
        var names = resources["resources"]!.AsArray().Select(r => r!["name"]!.ToString()).ToList();
        Assert.Contains("agentpolicies", names);
        Assert.Contains("agentpolicies/status", names);
        Assert.Contains("approvalrequests", names);
    }
}
