using System.Text.Json.Nodes;
using Aegis.Operator.Controllers;
using Aegis.Operator.Publishing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests;

/// <summary>The controller against the in-process API server through KubernetesClient: objects in, bundles and status out.</summary>
public class TenantControllerTests
{
    private static object Policy(string name, string tenant = "acme", string effect = "allow") => new
    {
        apiVersion = "aegis.dev/v1alpha1",
        kind = "AgentPolicy",
        metadata = new { name, @namespace = "fin" },
        spec = new { tenant, rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, effect } } },
    };


    private static async Task<JsonNode> ReadAsync(Kubernetes client, string name) =>
        JsonNode.Parse(((System.Text.Json.JsonElement)await client.CustomObjects.GetNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", "fin", "agentpolicies", name)).GetRawText())!;

    private static string? Condition(JsonNode obj, string type, string field) =>
        obj["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.ToString() == type)?[field]?.ToString();

    [Fact]
    public async Task Controller_PublishesPerTenantWritesStatusAndSurvivesCutWatchesAndCompaction()
    {
        await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var catalog = new BundleCatalog();
        using var controller = new TenantController(client, new TenantReconciler(TestKeys.Signer, catalog), TimeProvider.System, NullLoggerFactory.Instance);
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy("pay"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy("other", tenant: "globex"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");

        using var stop = new CancellationTokenSource();
        var running = controller.RunAsync(2, stop.Token);

        await Eventually.TrueAsync(async () => await catalog.CurrentRevisionAsync("acme") is not null && await catalog.CurrentRevisionAsync("globex") is not null, "bundles of both tenants");
        var acme = await catalog.CurrentRevisionAsync("acme");
        await Eventually.TrueAsync(async () => (await ReadAsync(client, "pay"))["status"]?["bundleRevision"]?.ToString() == acme, "status of pay");
        var pay = await ReadAsync(client, "pay");
        Assert.Equal("True", Condition(pay, "Ready", "status"));
        Assert.Equal("1", Condition(pay, "Accepted", "observedGeneration"));

        // An invalid object is refused with the loader's error; the tenant's bundle is unchanged. Its
        // schema-valid but semantically wrong CEL passes the API server and is caught by the loader.
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(new
        {
            apiVersion = "aegis.dev/v1alpha1", kind = "AgentPolicy", metadata = new { name = "broken", @namespace = "fin" },
            spec = new { tenant = "acme", rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, when = "nope > 1", effect = "deny" } } },
        }, "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        await Eventually.TrueAsync(async () => Condition(await ReadAsync(client, "broken"), "Accepted", "status") == "False", "broken rejected");
        Assert.Contains("undeclared reference to 'nope'", Condition(await ReadAsync(client, "broken"), "Accepted", "message"), StringComparison.Ordinal);
        Assert.Equal(acme, await catalog.CurrentRevisionAsync("acme"));

        // A spec change publishes a new revision and moves observedGeneration.
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"rules":[{"name":"r","match":{"tools":["x"]},"effect":"deny"}]}}""", V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "agentpolicies", "pay");
        await Eventually.TrueAsync(async () => await catalog.CurrentRevisionAsync("acme") != acme, "a new revision");
        await Eventually.TrueAsync(async () => Condition(await ReadAsync(client, "pay"), "Ready", "observedGeneration") == "2", "observedGeneration 2");

        // The server ends every watch, then forgets history: the informers re-watch, then re-list, and lose nothing.
        api.CutWatches();
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy("after-cut", tenant: "initech"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        await Eventually.TrueAsync(async () => await catalog.CurrentRevisionAsync("initech") is not null, "initech after a cut watch");
        var lists = api.Calls("list", "agentpolicies");
        api.HoldWatches();
        api.CutWatches();
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy("after-compaction", tenant: "umbrella"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        api.Compact();
        api.ReleaseWatches();
        await Eventually.TrueAsync(async () => await catalog.CurrentRevisionAsync("umbrella") is not null, "umbrella after 410 Gone");
        Assert.Equal(lists + 1, api.Calls("list", "agentpolicies"));

        // Events follow status changes: published for the valid objects, refused for the broken one.
        var events = api.Objects("", "events", "fin");
        Assert.Contains(events, e => e["reason"]!.ToString() == "BundlePublished" && e["involvedObject"]!["name"]!.ToString() == "pay" && e["type"]!.ToString() == "Normal");
        Assert.Contains(events, e => e["reason"]!.ToString() == "BundleRefused" && e["involvedObject"]!["name"]!.ToString() == "broken" && e["type"]!.ToString() == "Warning");

        // The controller's own status writes settle: no reconcile loop.
        await Task.Delay(500);
        var settled = controller.Reconciles;
        await Task.Delay(1000);
        Assert.Equal(settled, controller.Reconciles);

        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public async Task Controller_ConflictOnPublish_IsRetriedUntilTheNewRevisionLands()
    {
        await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var catalog = new BundleCatalog();
        using var controller = new TenantController(client, new TenantReconciler(TestKeys.Signer, catalog), TimeProvider.System, NullLoggerFactory.Instance,
            catalog: catalog, external: new ConfigMapPublisher(client, "aegis-system"));
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy("pay"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        using var stop = new CancellationTokenSource();
        var running = controller.RunAsync(1, stop.Token);
        string? Published() => api.Objects("", "configmaps", "aegis-system").SingleOrDefault()?["metadata"]?["annotations"]?[ConfigMapPublisher.RevisionAnnotation]?.ToString();
        await Eventually.TrueAsync(() => Published() is not null, "the first ConfigMap");

        // Two other writers change the ConfigMap just before each of the operator's next two replaces.
        api.RaceNextWrites("configmaps", 2);
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"rules":[{"name":"r","match":{"tools":["x"]},"effect":"deny"}]}}""", V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "agentpolicies", "pay");

        await Eventually.TrueAsync(async () => Published() == await catalog.CurrentRevisionAsync("acme") && api.RacesLeft("configmaps") == 0, "the new revision after two conflicts");
        var map = await client.CoreV1.ReadNamespacedConfigMapAsync(ConfigMapPublisher.NameFor("acme"), "aegis-system");
        Assert.Equal(new Policy.Bundles.BundleVerifier(TestKeys.Jwks).Verify(map.BinaryData[ConfigMapPublisher.DataKey], "acme").Bundle!.Revision, Published());

        await stop.CancelAsync();
        await running;
    }
}
