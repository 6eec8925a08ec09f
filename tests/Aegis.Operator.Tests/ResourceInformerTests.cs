using System.Collections.Concurrent;
using Aegis.Operator.Caching;
using Aegis.Policy.Resources;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests;

/// <summary>The typed informer against the in-process API server: one list, one watch, 410 handling, indexes and copies.</summary>
public sealed class ResourceInformerTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    private KubernetesTestServer Api => _cluster.Server;

    private Kubernetes Client => _cluster.Client;
    private InformerCache _cache = null!;
    private CancellationTokenSource _stop = null!;
    private Task _running = null!;

    private ResourceInformer<AgentPolicy> Policies => _cache.For<AgentPolicy>();

    public async ValueTask InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
        _cache = new InformerCache(TimeProvider.System, NullLoggerFactory.Instance);
        _cache.AddAegis<AgentPolicy>(Client, "agentpolicies");
        _stop = new CancellationTokenSource();
    }

    private async Task StartAsync()
    {
        _running = _cache.RunAsync(_stop.Token);
        await _cache.WaitForSyncAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _stop.Dispose();
        await _cluster.DisposeAsync();
    }

    private static object Policy(string name, string tenant = "acme", string ns = "fin") => new
    {
        apiVersion = "aegis.dev/v1alpha1",
        kind = "AgentPolicy",
        metadata = new { name, @namespace = ns },
        spec = new { tenant, rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, effect = "allow" } } },
    };

    private Task CreateAsync(string name, string tenant = "acme", string ns = "fin") =>
        Client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy(name, tenant, ns), "aegis.dev", "v1alpha1", ns, "agentpolicies");

    [Fact]
    public async Task Run_AfterTheFirstList_ChangesArriveTypedOnOneWatch()
    {
        var seen = new ConcurrentQueue<string>();
        Policies.Changed += c => seen.Enqueue($"{(c.New is null ? "deleted" : c.Old is null ? "added" : "modified")} {(c.New ?? c.Old)!.Metadata.Name} {(c.New ?? c.Old)!.Spec.Rules[0].Effect}");
        await StartAsync();

        for (var i = 0; i < 3; i++)
        {
            await CreateAsync($"p{i}");
        }

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", "fin", "agentpolicies", "p0");
        await Eventually.TrueAsync(() => seen.Count == 4, "four changes");

        Assert.Equal(["added p0 Allow", "added p1 Allow", "added p2 Allow", "deleted p0 Allow"], seen);
        Assert.Equal((1, 1), (Api.Calls("list", "agentpolicies"), Api.Calls("watch", "agentpolicies")));
    }

    [Fact]
    public async Task Run_WatchAnswered410_ListsAgainAndLosesNothing()
    {
        await CreateAsync("p1");
        await StartAsync();

        // The stream is cut and, before the informer watches again, p9 is created and the history compacted.
        Api.HoldWatches();
        Api.CutWatches();
        await CreateAsync("p9");
        Api.Compact();
        Api.ReleaseWatches();

        await Eventually.TrueAsync(() => Policies.Get("fin", "p9") is not null, "p9 after 410");
        Assert.Equal(2, Api.Calls("list", "agentpolicies"));
        Assert.Equal(["p1", "p9"], Policies.List().Select(p => p.Metadata.Name).Order());
    }

    [Fact]
    public async Task ByIndex_TenantAndNamespace_FindOnlyTheirObjectsAndFollowChanges()
    {
        await CreateAsync("a1");
        await CreateAsync("b1", tenant: "globex", ns: "ops");
        await StartAsync();

        Assert.Equal(["a1"], Policies.ByIndex(InformerCache.TenantIndex, "acme").Select(p => p.Metadata.Name));
        Assert.Equal(["b1"], Policies.ByIndex(InformerCache.NamespaceIndex, "ops").Select(p => p.Metadata.Name));

        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(new k8s.Models.V1Patch("""{"spec":{"tenant":"globex"}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "agentpolicies", "a1");

        await Eventually.TrueAsync(() => Policies.ByIndex(InformerCache.TenantIndex, "acme").Count == 0, "a1 moved out of acme");
        Assert.Equal(["a1", "b1"], Policies.ByIndex(InformerCache.TenantIndex, "globex").Select(p => p.Metadata.Name));
        Assert.Equal(["globex"], Policies.IndexValues(InformerCache.TenantIndex));
    }

    [Fact]
    public async Task Get_ReaderChangesItsObject_TheCacheIsUntouched()
    {
        await CreateAsync("p1");
        await StartAsync();

        var copy = Policies.Get("fin", "p1")!;
        copy.Spec.Tenant = "evil";
        copy.Spec.Rules.Clear();

        var cached = Policies.Get("fin", "p1")!;
        Assert.Equal("acme", cached.Spec.Tenant);
        Assert.Single(cached.Spec.Rules);
        Assert.Single(Policies.ByIndex(InformerCache.TenantIndex, "acme"));
    }
}

/// <summary>An object the API server holds but this operator's model cannot read (a newer CRD, say).</summary>
public class ReadableObjectTests
{
    [Fact]
    public void Read_FieldThatDoesNotFitTheModel_KeepsTheMetadataAndNamesTheField()
    {
        const string json = """
            {"apiVersion":"aegis.dev/v1alpha1","kind":"AgentPolicy","metadata":{"name":"odd","namespace":"fin","uid":"u1","generation":4,"resourceVersion":"77"},
             "spec":{"tenant":"acme","rules":[{"name":"r","match":{"tools":["x"]},"effect":"explode"}]}}
            """;

        var read = System.Text.Json.JsonSerializer.Deserialize<Readable<AgentPolicy>>(json)!.Read;

        Assert.Equal(("odd", "fin", 4L, "77"), (read.Value.Metadata.Name, read.Value.Metadata.Namespace!, read.Value.Metadata.Generation!.Value, read.Value.Metadata.ResourceVersion!));
        Assert.StartsWith("spec.rules[0].effect: does not fit the AgentPolicy model", read.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_ObjectThatFits_HasNoError()
    {
        const string json = """{"metadata":{"name":"p","namespace":"fin"},"spec":{"tenant":"acme","rules":[{"name":"r","match":{"tools":["x"]},"effect":"deny"}]}}""";

        var read = System.Text.Json.JsonSerializer.Deserialize<Readable<AgentPolicy>>(json)!.Read;

        Assert.Null(read.Error);
        Assert.Equal(Effect.Deny, read.Value.Spec.Rules[0].Effect);
    }
}
