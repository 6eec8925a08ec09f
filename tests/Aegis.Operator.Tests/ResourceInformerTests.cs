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
    private KubernetesTestServer _api = null!;
    private Kubernetes _client = null!;
    private InformerCache _cache = null!;
    private CancellationTokenSource _stop = null!;
    private Task _running = null!;

    private ResourceInformer<AgentPolicy> Policies => _cache.For<AgentPolicy>();

    public async ValueTask InitializeAsync()
    {
        _api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _api.Url });
        _cache = new InformerCache(TimeProvider.System, NullLoggerFactory.Instance);
        _cache.AddAegis<AgentPolicy>(_client, "agentpolicies");
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
        _client.Dispose();
        await _api.DisposeAsync();
    }

    private static object Policy(string name, string tenant = "acme", string ns = "fin") => new
    {
        apiVersion = "aegis.dev/v1alpha1",
        kind = "AgentPolicy",
        metadata = new { name, @namespace = ns },
        spec = new { tenant, rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, effect = "allow" } } },
    };

    private Task CreateAsync(string name, string tenant = "acme", string ns = "fin") =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy(name, tenant, ns), "aegis.dev", "v1alpha1", ns, "agentpolicies");

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

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", "fin", "agentpolicies", "p0");
        await Eventually.TrueAsync(() => seen.Count == 4, "four changes");

        Assert.Equal(["added p0 Allow", "added p1 Allow", "added p2 Allow", "deleted p0 Allow"], seen);
        Assert.Equal((1, 1), (_api.Calls("list", "agentpolicies"), _api.Calls("watch", "agentpolicies")));
    }

    [Fact]
    public async Task Run_WatchAnswered410_ListsAgainAndLosesNothing()
    {
        await CreateAsync("p1");
        await StartAsync();

        // The stream is cut and, before the informer watches again, p9 is created and the history compacted.
        _api.HoldWatches();
        _api.CutWatches();
        await CreateAsync("p9");
        _api.Compact();
        _api.ReleaseWatches();

        await Eventually.TrueAsync(() => Policies.Get("fin", "p9") is not null, "p9 after 410");
        Assert.Equal(2, _api.Calls("list", "agentpolicies"));
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

        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new k8s.Models.V1Patch("""{"spec":{"tenant":"globex"}}""", k8s.Models.V1Patch.PatchType.MergePatch),
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
