using System.Text.Json.Nodes;
using Aegis.Operator.Controllers;
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

    /// <summary>A namespace of a fresh tenant (and the operator's namespace for this test).</summary>
    private async Task<(string Namespace, string Tenant)> IsolateAsync()
    {
        if (cluster.Client is null)
        {
            Assert.Skip(cluster.SkipReason);
        }

        var id = Guid.NewGuid().ToString("N")[..8];
        var ns = "flow-" + id;
        await OperatorUnderTest.CreateNamespaceAsync(Client, ns, "t" + id);
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
    private static IReadOnlyList<string> BundledPolicies(OperatorUnderTest op, string tenant) =>
        op.Bundle(tenant) is { } bundle ? [.. bundle.Data.Policies.Select(p => $"{p.Id.Split('/')[^1]}:{p.Rules[0].Effect.ToString().ToLowerInvariant()}").Order(StringComparer.Ordinal)] : [];

    private Task<OperatorUnderTest> StartOperatorAsync(string ns) => OperatorUnderTest.StartAsync(Client, ns: ns);

    [Fact]
    public async Task Flow_CreateUpdateDelete_EndsInTheRightBundle()
    {
        var (ns, tenant) = await IsolateAsync();
        await OperatorUnderTest.CreateNamespaceAsync(Client, ns + "x", tenant + "x");
        await using var op = await StartOperatorAsync(ns);

        await CreateAsync(Policy(ns, "pay", tenant), ns);
        await CreateAsync(Policy(ns, "refund", tenant, "deny"), ns);
        await CreateAsync(Policy(ns + "x", "elsewhere", tenant + "x"), ns + "x");
        await Eventually.TrueAsync(() => BundledPolicies(op, tenant).SequenceEqual(["pay:allow", "refund:deny"]), "both policies bundled", TimeSpan.FromSeconds(30));
        // The other tenant reconciles on its own worker: it need not be done when the first tenant is.
        await Eventually.TrueAsync(() => BundledPolicies(op, tenant + "x").SequenceEqual(["elsewhere:allow"]), "the other tenant bundled", TimeSpan.FromSeconds(30));

        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"rules":[{"name":"r","match":{"tools":["stripe.*"]},"effect":"approval_needed","approval":{"approvers":["slack:U1"]}}]}}""", V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", ns, "agentpolicies", "pay");
        await Eventually.TrueAsync(() => BundledPolicies(op, tenant).SequenceEqual(["pay:approvalneeded", "refund:deny"]), "the update bundled", TimeSpan.FromSeconds(30));

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync("aegis.dev", "v1alpha1", ns, "agentpolicies", "refund");
        await Eventually.TrueAsync(() => BundledPolicies(op, tenant).SequenceEqual(["pay:approvalneeded"]), "the delete bundled", TimeSpan.FromSeconds(30));
        await Eventually.TrueAsync(async () => Condition(await ReadAsync(ns, "pay"), "Ready", "observedGeneration") == "2", "status of the update", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Flow_InvalidObject_GetsAcceptedFalseAndTheBundleStays()
    {
        var (ns, tenant) = await IsolateAsync();
        await using var op = await StartOperatorAsync(ns);
        await CreateAsync(Policy(ns, "pay", tenant), ns);
        await Eventually.TrueAsync(() => BundledPolicies(op, tenant).Count == 1, "the good bundle", TimeSpan.FromSeconds(30));
        op.Catalog.TryGet(tenant, out var good, out _);

        // Valid for the API server's schema, wrong for the CEL compiler: only the operator can refuse it.
        await CreateAsync(Policy(ns, "broken", tenant, "deny", when: "nope > 1"), ns);

        await Eventually.TrueAsync(async () => Condition(await ReadAsync(ns, "broken"), "Accepted", "status") == "False", "broken refused", TimeSpan.FromSeconds(30));
        Assert.Contains("undeclared reference to 'nope'", Condition(await ReadAsync(ns, "broken"), "Accepted", "message"), StringComparison.Ordinal);
        op.Catalog.TryGet(tenant, out var after, out _);
        Assert.Equal(good, after);
        Assert.Equal("True", Condition(await ReadAsync(ns, "pay"), "Ready", "status"));
    }

    [Fact]
    public async Task Flow_PolicyInAnotherTenantsNamespaceNamingThisTenant_NeverReachesItsBundle()
    {
        var (victimNs, victim) = await IsolateAsync();
        var (attackerNs, _) = await IsolateAsync();
        await using var op = await StartOperatorAsync(victimNs);
        await CreateAsync(Policy(victimNs, "pay", victim, "deny"), victimNs);
        await Eventually.TrueAsync(() => BundledPolicies(op, victim).SequenceEqual(["pay:deny"]), "the victim's own bundle", TimeSpan.FromSeconds(30));
        var before = op.Bundle(victim)!.Revision;

        // Whoever may create AgentPolicies in the attacker's namespace tries to allow everything for the victim.
        await CreateAsync(Policy(attackerNs, "allow-all", victim, "allow"), attackerNs);

        await Eventually.TrueAsync(async () => Condition(await ReadAsync(attackerNs, "allow-all"), "Accepted", "reason") == "TenantMismatch", "the attack refused", TimeSpan.FromSeconds(30));
        Assert.Equal(before, op.Bundle(victim)!.Revision);
        Assert.Equal(["pay:deny"], BundledPolicies(op, victim));
        var events = await Client.CoreV1.ListNamespacedEventAsync(attackerNs);
        Assert.Contains(events.Items, e => e.Reason == "TenantMismatch" && e.InvolvedObject.Name == "allow-all" && e.Type == "Warning");
    }

    [Fact]
    public async Task Flow_ObjectInUnlabelledNamespace_IsTenantNotBoundAndCompiledNowhere()
    {
        var (opNs, tenant) = await IsolateAsync();
        var loose = "loose-" + Guid.NewGuid().ToString("N")[..8];
        await OperatorUnderTest.CreateNamespaceAsync(Client, loose, null);
        await using var op = await StartOperatorAsync(opNs);

        await CreateAsync(Policy(loose, "stray", tenant), loose);

        await Eventually.TrueAsync(async () => Condition(await ReadAsync(loose, "stray"), "Accepted", "reason") == "TenantNotBound", "the stray refused", TimeSpan.FromSeconds(30));
        Assert.Contains($"namespace {loose} has no aegis.dev/tenant label", Condition(await ReadAsync(loose, "stray"), "Accepted", "message"), StringComparison.Ordinal);
        Assert.Empty(BundledPolicies(op, tenant));
    }

    [Fact]
    public async Task Flow_NamespaceRelabelled_RecompilesBothTenants()
    {
        var (ns, first) = await IsolateAsync();
        var second = first + "b";
        await using var op = await StartOperatorAsync(ns);
        await CreateAsync(Policy(ns, "pay", first), ns);
        await Eventually.TrueAsync(() => BundledPolicies(op, first).SequenceEqual(["pay:allow"]), "bundled for the first tenant", TimeSpan.FromSeconds(30));

        // A cluster admin hands the namespace to the second tenant: the first loses the policy, which now names the wrong tenant.
        await Client.CoreV1.PatchNamespaceAsync(new V1Patch("{\"metadata\":{\"labels\":{\"aegis.dev/tenant\":\"" + second + "\"}}}", V1Patch.PatchType.MergePatch), ns);

        await Eventually.TrueAsync(() => BundledPolicies(op, first).Count == 0, "the first tenant's bundle recompiled without it", TimeSpan.FromSeconds(30));
        await Eventually.TrueAsync(async () => Condition(await ReadAsync(ns, "pay"), "Accepted", "reason") == "TenantMismatch", "the policy now mismatched", TimeSpan.FromSeconds(30));
        await CreateAsync(Policy(ns, "moved", second), ns);
        await Eventually.TrueAsync(() => BundledPolicies(op, second).SequenceEqual(["moved:allow"]), "the second tenant's bundle", TimeSpan.FromSeconds(30));
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

        // a renews twice more (b retries as often): b has had its tries, and the Lease stays a's.
        async Task<DateTime?> RenewedAt() => (await Client.CoordinationV1.ReadNamespacedLeaseAsync("aegis-operator", ns)).Spec.RenewTime;
        var renewed = await RenewedAt();
        await Eventually.TrueAsync(async () => await RenewedAt() != renewed, "a renewed once", TimeSpan.FromSeconds(10));
        renewed = await RenewedAt();
        await Eventually.TrueAsync(async () => await RenewedAt() != renewed, "a renewed twice", TimeSpan.FromSeconds(10));
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
