using System.Text.Json.Nodes;
using Aegis.Operator.Publishing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;

namespace Aegis.Operator.Tests;

/// <summary>The tenant controllers in the whole operator host, against the in-process API server through KubernetesClient: objects in, bundles and status out.</summary>
public sealed class TenantControllerTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    private KubernetesTestServer Api => _cluster.Server;

    private Kubernetes Client => _cluster.Client;

    public async ValueTask InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
        await OperatorUnderTest.CreateNamespaceAsync(Client, "fin", "acme");
        await OperatorUnderTest.CreateNamespaceAsync(Client, "ops", "globex");
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.DisposeAsync();
    }

    private static object Policy(string name, string ns = "fin", string tenant = "acme", string effect = "allow", string? when = null) => new
    {
        apiVersion = "aegis.dev/v1alpha1",
        kind = "AgentPolicy",
        metadata = new { name, @namespace = ns },
        spec = new { tenant, rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, when, effect } } },
    };

    private Task CreateAsync(object policy, string ns = "fin") => Client.CustomObjects.CreateNamespacedCustomObjectAsync(policy, "aegis.dev", "v1alpha1", ns, "agentpolicies");

    private JsonObject Read(string name, string ns = "fin") => Api.Objects("aegis.dev", "agentpolicies", ns).Single(o => o["metadata"]!["name"]!.ToString() == name);

    private static string? Condition(JsonNode obj, string type, string field) =>
        obj["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.ToString() == type)?[field]?.ToString();

    [Fact]
    public async Task Reconcile_ValidPolicies_OneBundlePerTenantAndReadyStatus()
    {
        await CreateAsync(Policy("pay"));
        await CreateAsync(Policy("other", "ops", "globex"), "ops");
        await using var op = await OperatorUnderTest.StartAsync(Client);

        await Eventually.TrueAsync(() => op.Bundle("acme") is not null && op.Bundle("globex") is not null, "bundles of both tenants");
        var acme = op.Bundle("acme")!;
        await Eventually.TrueAsync(() => Read("pay")["status"]?["bundleRevision"]?.ToString() == acme.Revision, "status of pay");
        Assert.Equal(["fin/pay"], acme.Data.Policies.Select(p => p.Id));
        Assert.Equal("True", Condition(Read("pay"), "Ready", "status"));
        Assert.Equal("1", Condition(Read("pay"), "Accepted", "observedGeneration"));
        Assert.True(acme.Sequence > 0);
    }

    [Fact]
    public async Task Reconcile_SemanticallyInvalidPolicy_AcceptedFalseWithTheValidatorsFieldAndTheBundleUnchanged()
    {
        await CreateAsync(Policy("pay"));
        await using var op = await OperatorUnderTest.StartAsync(Client);
        await Eventually.TrueAsync(() => op.Bundle("acme") is not null, "the good bundle");
        var good = op.Bundle("acme")!.Revision;

        await CreateAsync(Policy("broken", effect: "deny", when: "nope > 1"));

        await Eventually.TrueAsync(() => Condition(Read("broken"), "Accepted", "status") == "False", "broken refused");
        Assert.Equal("Invalid", Condition(Read("broken"), "Accepted", "reason"));
        Assert.StartsWith("spec.rules[0].when: ", Condition(Read("broken"), "Accepted", "message"), StringComparison.Ordinal);
        Assert.Contains("undeclared reference to 'nope'", Condition(Read("broken"), "Accepted", "message"), StringComparison.Ordinal);
        Assert.Equal(good, op.Bundle("acme")!.Revision);
        await Eventually.TrueAsync(() => Api.Objects("", "events", "fin").Any(e => e["reason"]!.ToString() == "BundleRefused" && e["involvedObject"]!["name"]!.ToString() == "broken"),
            "a Warning event for the refused object");
    }

    [Fact]
    public async Task Reconcile_SpecChange_NewRevisionWithAHigherSequenceAndObservedGenerationMoves()
    {
        await CreateAsync(Policy("pay"));
        await using var op = await OperatorUnderTest.StartAsync(Client);
        await Eventually.TrueAsync(() => op.Bundle("acme") is not null, "the first bundle");
        var first = op.Bundle("acme")!;

        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"rules":[{"name":"r","match":{"tools":["x"]},"effect":"deny"}]}}""", V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "agentpolicies", "pay");

        await Eventually.TrueAsync(() => op.Bundle("acme")!.Revision != first.Revision, "a new revision");
        Assert.True(op.Bundle("acme")!.Sequence > first.Sequence);
        await Eventually.TrueAsync(() => Condition(Read("pay"), "Ready", "observedGeneration") == "2", "observedGeneration 2");
        Assert.Contains(Api.Objects("", "events", "fin"), e => e["reason"]!.ToString() == "BundlePublished" && e["type"]!.ToString() == "Normal");
    }

    [Fact]
    public async Task Run_WatchesCutThenHistoryCompacted_ListsOnceMoreAndLosesNothing()
    {
        await using var op = await OperatorUnderTest.StartAsync(Client);
        Api.CutWatches();
        await CreateAsync(Policy("after-cut"));
        await Eventually.TrueAsync(() => op.Bundle("acme") is not null, "acme after a cut watch");
        var lists = Api.Calls("list", "agentpolicies");

        Api.HoldWatches();
        Api.CutWatches();
        await CreateAsync(Policy("after-compaction", "ops", "globex"), "ops");
        Api.Compact();
        Api.ReleaseWatches();

        await Eventually.TrueAsync(() => op.Bundle("globex") is not null, "globex after 410 Gone");
        Assert.Equal(lists + 1, Api.Calls("list", "agentpolicies"));
    }

    [Fact]
    public async Task Reconcile_AfterItsOwnStatusWrites_WritesNothingMore()
    {
        await CreateAsync(Policy("pay"));
        await using var op = await OperatorUnderTest.StartAsync(Client);
        await Eventually.TrueAsync(() => Read("pay")["status"]?["bundleRevision"] is not null, "status written");
        await Eventually.TrueAsync(() => op.Tenants.Statuses.Counts.Total >= 2, "the status reconcile after the write");
        var version = Read("pay")["metadata"]!["resourceVersion"]!.ToString();

        // Asked again with nothing changed, both controllers settle: one more reconcile each, no write.
        var before = op.Tenants.Statuses.Counts.Total;
        op.Tenants.Bundles.Enqueue("acme");
        await Eventually.TrueAsync(() => op.Tenants.Statuses.Counts.Total > before, "the status reconcile ran again");

        Assert.Equal(version, Read("pay")["metadata"]!["resourceVersion"]!.ToString());
        Assert.Equal(0, op.Tenants.Statuses.Counts.Error + op.Tenants.Bundles.Counts.Error);
    }

    [Fact]
    public async Task Reconcile_ConflictOnExternalPublish_IsRetriedUntilTheNewRevisionLands()
    {
        await CreateAsync(Policy("pay"));
        await using var op = await OperatorUnderTest.StartAsync(Client, configure: o => o with { PublishConfigMaps = true });
        string? Published() => Api.Objects("", "configmaps", "aegis-system").SingleOrDefault(m => m["metadata"]!["name"]!.ToString() == ConfigMapPublisher.NameFor("acme"))
            ?["metadata"]?["annotations"]?[ConfigMapPublisher.RevisionAnnotation]?.ToString();
        await Eventually.TrueAsync(() => Published() is not null, "the first ConfigMap");

        // Two other writers change the ConfigMap just before each of the operator's next two replaces.
        Api.RaceNextWrites("configmaps", 2);
        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"rules":[{"name":"r","match":{"tools":["x"]},"effect":"deny"}]}}""", V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "agentpolicies", "pay");

        await Eventually.TrueAsync(() => Published() == op.Bundle("acme")?.Revision && Api.RacesLeft("configmaps") == 0 && op.Tenants.Statuses.Counts.Error > 0,
            "the new revision after conflicts");
        var map = await Client.CoreV1.ReadNamespacedConfigMapAsync(ConfigMapPublisher.NameFor("acme"), "aegis-system");
        Assert.Equal(new Policy.Bundles.BundleVerifier(TestKeys.Jwks).Verify(map.BinaryData[ConfigMapPublisher.DataKey], "acme").Bundle!.Revision, Published());
    }
}
