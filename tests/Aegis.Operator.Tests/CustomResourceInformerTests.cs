using System.Collections.Concurrent;
using Aegis.Operator.Controllers;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests;

public class CustomResourceInformerTests
{
    private static object Policy(string name) => new
    {
        apiVersion = "aegis.dev/v1alpha1",
        kind = "AgentPolicy",
        metadata = new { name, @namespace = "fin" },
        spec = new { tenant = "acme", rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, effect = "allow" } } },
    };

    [Fact]
    public async Task Run_AfterTheFirstList_ChangesArriveOnOneWatch_AndOnlyA410ListsAgain()
    {
        await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var informer = new CustomResourceInformer(client, "aegis.dev", "v1alpha1", "agentpolicies", NullLogger.Instance);
        var seen = new ConcurrentQueue<string>();
        informer.Changed += c => seen.Enqueue($"{(c.New is null ? "deleted" : c.Old is null ? "added" : "modified")} {(c.New ?? c.Old)!["metadata"]!["name"]}");
        using var stop = new CancellationTokenSource();
        var running = informer.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => informer.HasSynced, "synced");

        for (var i = 0; i < 5; i++)
        {
            await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy($"p{i}"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        }

        await client.CustomObjects.DeleteNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", "fin", "agentpolicies", "p0");
        await Eventually.TrueAsync(() => seen.Count == 6, "six changes");

        // A watch that worked needs no second list: one list, one watch, every change in order.
        Assert.Equal(["added p0", "added p1", "added p2", "added p3", "added p4", "deleted p0"], seen);
        Assert.Equal(1, api.Calls("list", "agentpolicies"));
        Assert.Equal(1, api.Calls("watch", "agentpolicies"));

        // The stream is cut and, before the informer watches again, p9 is created and the history compacted: its
        // re-watch is answered 410 Gone, and it lists once more and loses nothing.
        api.HoldWatches();
        api.CutWatches();
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy("p9"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        api.Compact();
        api.ReleaseWatches();
        await Eventually.TrueAsync(() => informer.Snapshot().Any(o => o["metadata"]!["name"]!.ToString() == "p9"), "p9 after 410");
        Assert.Equal(2, api.Calls("list", "agentpolicies"));
        Assert.Equal(["p1", "p2", "p3", "p4", "p9"], informer.Snapshot().Select(o => o["metadata"]!["name"]!.ToString()).Order());

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
    }
}
