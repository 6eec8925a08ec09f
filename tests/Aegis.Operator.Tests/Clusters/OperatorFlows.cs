using System.Text.Json.Nodes;
using Aegis.Operator.Controllers;
using Aegis.Operator.Publishing;
using Aegis.Policy.Bundles;
using Aegis.TestSupport;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Clusters;

/// <summary>
/// The operator's flows through KubernetesClient, written once and run against every cluster kind: the in-process
/// API server here, a real k3s wherever Docker runs. Each test works in its own namespace and tenants, so a class
/// can share one cluster.
/// </summary>
public abstract class OperatorFlows(IClusterFixture cluster)
{
    // IsolateAsync, which every test calls first, skips the test when the cluster cannot run.
    private Kubernetes Client => cluster.Client!;

    private async Task<(string Namespace, string Tenant)> IsolateAsync()
    {
        if (cluster.Client is null)
        {
            Assert.Skip(cluster.SkipReason);
        }

        var id = Guid.NewGuid().ToString("N")[..8];
        var ns = "flow-" + id;
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } });
        return (ns, "t" + id);
    }

    private static object Policy(string ns, string name, string tenant, string effect = "allow", string? when = null) => new
    {
        apiVersion = "aegis.dev/v1alpha1",
        kind = "AgentPolicy",
        metadata = new { name, @namespace = ns },
        spec = new { tenant, rules = new[] { new { name = "r", match = new { tools = new[] { "stripe.*" } }, when, effect } } },
    };

    private Task CreateAsync(object obj, string ns) =>
        Client.CustomObjects.CreateNamespacedCustomObjectAsync(obj, "aegis.dev", "v1alpha1", ns, "agentpolicies");

    private async Task<JsonNode> ReadAsync(string ns, string name) =>
        JsonNode.Parse(((System.Text.Json.JsonElement)await Client.CustomObjects.GetNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", ns, "agentpolicies", name)).GetRawText())!;

    private static string? Condition(JsonNode obj, string type, string field) =>
        obj["status"]?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.ToString() == type)?[field]?.ToString();

    /// <summary>The policies in the tenant's current bundle, as "name:effect", after verifying its signature.</summary>
    private static IReadOnlyList<string> BundledPolicies(BundleCatalog catalog, string tenant)
    {
        if (!catalog.TryGet(tenant, out _, out var archive))
        {
            return [];
        }

        var verified = new BundleVerifier(TestKeys.Jwks).Verify(archive, tenant);
        Assert.True(verified.IsValid, verified.Message);
        return [.. verified.Bundle!.Document.Policies.Select(p => $"{p.Id.Split('/')[^1]}:{p.Spec.Rules[0].Effect.ToString().ToLowerInvariant()}").Order(StringComparer.Ordinal)];
    }

    private async Task<(TenantController Controller, BundleCatalog Catalog, CancellationTokenSource Stop, Task Running)> StartOperatorAsync()
    {
        var catalog = new BundleCatalog();
        var controller = new TenantController(Client, new TenantReconciler(TestKeys.Signer, catalog), TimeProvider.System, NullLoggerFactory.Instance);
        var stop = new CancellationTokenSource();
        var running = controller.RunAsync(2, stop.Token);
        await Eventually.TrueAsync(() => controller.HasSynced, "caches synced", TimeSpan.FromSeconds(30));
        return (controller, catalog, stop, running);
    }

    private static async Task StopAsync((TenantController Controller, BundleCatalog Catalog, CancellationTokenSource Stop, Task Running) op)
    {
        await op.Stop.CancelAsync();
        await op.Running;
        op.Stop.Dispose();
        op.Controller.Dispose();
    }

    [Fact]
    public async Task Flow_CreateUpdateDelete_EndsInTheRightBundle()
    {
        var (ns, tenant) = await IsolateAsync();
        var op = await StartOperatorAsync();

        await CreateAsync(Policy(ns, "pay", tenant), ns);
        await CreateAsync(Policy(ns, "refund", tenant, "deny"), ns);
        await CreateAsync(Policy(ns, "elsewhere", tenant + "x"), ns);
        await Eventually.TrueAsync(() => BundledPolicies(op.Catalog, tenant).SequenceEqual(["pay:allow", "refund:deny"]), "both policies bundled", TimeSpan.FromSeconds(30));
        // The other tenant reconciles on its own worker: it need not be done when the first tenant is.
        await Eventually.TrueAsync(() => BundledPolicies(op.Catalog, tenant + "x").SequenceEqual(["elsewhere:allow"]), "the other tenant bundled", TimeSpan.FromSeconds(30));

        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"rules":[{"name":"r","match":{"tools":["stripe.*"]},"effect":"approval_needed","approval":{"approvers":["slack:U1"]}}]}}""", V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", ns, "agentpolicies", "pay");
        await Eventually.TrueAsync(() => BundledPolicies(op.Catalog, tenant).SequenceEqual(["pay:approvalneeded", "refund:deny"]), "the update bundled", TimeSpan.FromSeconds(30));

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", ns, "agentpolicies", "refund");
        await Eventually.TrueAsync(() => BundledPolicies(op.Catalog, tenant).SequenceEqual(["pay:approvalneeded"]), "the delete bundled", TimeSpan.FromSeconds(30));
        await Eventually.TrueAsync(async () => Condition(await ReadAsync(ns, "pay"), "Ready", "observedGeneration") == "2", "status of the update", TimeSpan.FromSeconds(30));

        await StopAsync(op);
    }

    [Fact]
    public async Task Flow_InvalidObject_GetsAcceptedFalseAndTheBundleStays()
    {
        var (ns, tenant) = await IsolateAsync();
        var op = await StartOperatorAsync();
        await CreateAsync(Policy(ns, "pay", tenant), ns);
        await Eventually.TrueAsync(() => BundledPolicies(op.Catalog, tenant).Count == 1, "the good bundle", TimeSpan.FromSeconds(30));
        op.Catalog.TryGet(tenant, out var good, out _);

        // Valid for the API server's schema, wrong for the CEL compiler: only the operator can refuse it.
        await CreateAsync(Policy(ns, "broken", tenant, "deny", when: "nope > 1"), ns);

        await Eventually.TrueAsync(async () => Condition(await ReadAsync(ns, "broken"), "Accepted", "status") == "False", "broken refused", TimeSpan.FromSeconds(30));
        Assert.Contains("undeclared reference to 'nope'", Condition(await ReadAsync(ns, "broken"), "Accepted", "message"), StringComparison.Ordinal);
        op.Catalog.TryGet(tenant, out var after, out _);
        Assert.Equal(good, after);
        Assert.Equal("True", Condition(await ReadAsync(ns, "pay"), "Ready", "status"));

        await StopAsync(op);
    }

    [Fact]
    public async Task Flow_LeaderDisappears_AnotherLeadsWithinTheLeaseDuration()
    {
        var (ns, _) = await IsolateAsync();
        Leadership Replica(string identity, bool release) => new(Client, ns, "aegis-operator", identity, NullLogger<Leadership>.Instance)
        {
            ReleaseOnStop = release,
            LeaseDuration = TimeSpan.FromSeconds(3),
            RenewDeadline = TimeSpan.FromSeconds(2),
            RetryPeriod = TimeSpan.FromMilliseconds(300),
        };
        using var a = Replica("operator-a", release: false);
        using var b = Replica("operator-b", release: true);
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAsync(stopA.Token);
        await Eventually.TrueAsync(() => a.IsLeader, "a leading", TimeSpan.FromSeconds(10));
        var runB = b.RunAsync(stopB.Token);
        await Task.Delay(1000);
        Assert.False(b.IsLeader);

        // a crashes (stops renewing, never releases): b leads once the lease has expired, not before.
        await stopA.CancelAsync();
        await runA;
        await Eventually.TrueAsync(() => b.IsLeader, "b leading", TimeSpan.FromSeconds(3 + 3));
        var lease = await Client.CoordinationV1.ReadNamespacedLeaseAsync("aegis-operator", ns);
        Assert.Equal("operator-b", lease.Spec.HolderIdentity);

        await stopB.CancelAsync();
        await runB;
    }
}

/// <summary>The flows against the in-process API server.</summary>
public sealed class OperatorFlowsOnTestServer(TestServerCluster cluster) : OperatorFlows(cluster), IClassFixture<TestServerCluster>;

/// <summary>The flows against a real k3s cluster (skipped, with the reason, where no Docker engine runs).</summary>
public sealed class OperatorFlowsOnK3s(K3sCluster cluster) : OperatorFlows(cluster), IClassFixture<K3sCluster>;
