using Aegis.Decision.Hosting;
using Aegis.Operator.Controllers;
using Aegis.Operator.Publishing;
using Aegis.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Aegis.Operator.Tests;

public class TenantReconcilerTests
{
    /// <summary>An object as the API server returns it, with Kubernetes's own metadata fields.</summary>
    private static CachedObject Policy(string name, string effect = "allow", long generation = 1, string tenant = "acme") => new("AgentPolicy", "fin", name, generation, $$$"""
        {"apiVersion":"aegis.dev/v1alpha1","kind":"AgentPolicy",
         "metadata":{"name":"{{{name}}}","namespace":"fin","generation":{{{generation}}},"uid":"6f1c","resourceVersion":"41","creationTimestamp":"2026-11-26T09:00:00Z",
                     "managedFields":[{"manager":"kubectl","operation":"Apply"}],"finalizers":["aegis.dev/bundle"]},
         "spec":{"tenant":"{{{tenant}}}","rules":[{"name":"r","match":{"tools":["stripe.*"]},"effect":"{{{effect}}}"}]},
         "status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"Published"}]}}
        """);

    [Fact]
    public async Task Reconcile_ValidObjects_PublishOnceAndReportReady()
    {
        var catalog = new BundleCatalog();
        var reconciler = new TenantReconciler(TestKeys.Signer, catalog);
        var objects = new[] { Policy("a"), Policy("b", "deny") };

        var first = await reconciler.ReconcileAsync("acme", objects);
        var again = await reconciler.ReconcileAsync("acme", objects.Reverse().ToArray());

        Assert.True(first.Published);
        Assert.False(again.Published);
        Assert.Equal(first.Revision, again.Revision);
        Assert.Equal(first.Revision, await catalog.CurrentRevisionAsync("acme"));
        Assert.All(first.Statuses, s => Assert.True(s.Accepted.Status && s.Ready.Status));
        Assert.All(first.Statuses, s => Assert.Equal(first.Revision, s.BundleRevision));
    }

    [Fact]
    public async Task Reconcile_InvalidObject_IsLeftOutWithTheLoadersErrorAndTheRestPublished()
    {
        var catalog = new BundleCatalog();
        var reconciler = new TenantReconciler(TestKeys.Signer, catalog);
        var good = await reconciler.ReconcileAsync("acme", [Policy("a")]);

        var result = await reconciler.ReconcileAsync("acme", [Policy("a"), Policy("broken", effect: "explode")]);

        var broken = Assert.Single(result.Statuses, s => s.Source.Name == "broken");
        Assert.False(broken.Accepted.Status);
        Assert.Equal("Invalid", broken.Accepted.Reason);
        Assert.Contains("spec.rules[0].effect: must be one of allow, sanitize, approval_needed, deny", broken.Accepted.Message, StringComparison.Ordinal);
        Assert.False(broken.Ready.Status);
        Assert.Null(broken.BundleRevision);

        // The bundle still holds exactly the valid object: same content, same revision, nothing republished.
        Assert.Equal(good.Revision, result.Revision);
        Assert.False(result.Published);
    }

    [Fact]
    public async Task Reconcile_GenerationChange_ChangesTheRevision()
    {
        var catalog = new BundleCatalog();
        var reconciler = new TenantReconciler(TestKeys.Signer, catalog);
        var v1 = await reconciler.ReconcileAsync("acme", [Policy("a", generation: 1)]);
        var v2 = await reconciler.ReconcileAsync("acme", [Policy("a", effect: "deny", generation: 2)]);

        Assert.NotEqual(v1.Revision, v2.Revision);
        Assert.True(v2.Published);
    }

    [Fact]
    public async Task PublishedBundle_IsServedWithETagAndPolledByADecisionServer()
    {
        var catalog = new BundleCatalog();
        var reconciler = new TenantReconciler(TestKeys.Signer, catalog);
        await reconciler.ReconcileAsync("acme", [Policy("a")]);

        await using var operatorHttp = LoopbackPorts.CreateApp();
        catalog.Map(operatorHttp);
        await operatorHttp.StartAsync();
        var port = LoopbackPorts.BoundPort(operatorHttp);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        using var first = await http.GetAsync("/bundles/acme");
        var etag = first.Headers.ETag!;
        using var again = new HttpRequestMessage(HttpMethod.Get, "/bundles/acme");
        again.Headers.IfNoneMatch.Add(etag);
        using var notModified = await http.SendAsync(again);
        using var missing = await http.GetAsync("/bundles/initech");
        Assert.Equal(System.Net.HttpStatusCode.OK, first.StatusCode);
        Assert.Equal($"\"{await catalog.CurrentRevisionAsync("acme")}\"", etag.Tag);
        Assert.Equal(System.Net.HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);

        // The decision server polls the operator's endpoint and serves what the reconciler published.
        using var dir = new TempDirectory();
        var jwks = dir.Write("jwks.json", TestKeys.Jwks.ToJson());
        await using var server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleUrl = $"http://127.0.0.1:{port}/bundles/{{tenant}}",
            BundlePoll = TimeSpan.FromMilliseconds(100),
            JwksPath = jwks,
            Tenants = ["acme"],
            GrpcPort = 0,
            HttpPort = 0,
        });
        Assert.Equal(await catalog.CurrentRevisionAsync("acme"), server.Bundles.Get("acme")!.Revision);

        var v2 = await reconciler.ReconcileAsync("acme", [Policy("a", effect: "deny", generation: 2)]);
        await Eventually.TrueAsync(() => server.Bundles.Get("acme")!.Revision == v2.Revision, "the decision server picking up the new bundle");
    }
}
