using System.Text.Json.Nodes;
using Aegis.Contracts.State;
using Aegis.State;
using Aegis.Operator.Budgets;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests;

public class BudgetStatusWriterTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);
    private static readonly BudgetLimits Unlimited = new(null, null, TimeZoneInfo.Utc);

    private static async Task<(KubernetesTestServer Api, Kubernetes Client)> StartAsync()
    {
        var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(new
        {
            apiVersion = "aegis.dev/v1alpha1", kind = "AgentBudget", metadata = new { name = "support", @namespace = "fin" },
            spec = new { tenant = "acme", agents = new[] { "support-*" }, daily = "1.00", monthly = "40.00" },
        }, "aegis.dev", "v1alpha1", "fin", "agentbudgets");
        return (api, client);
    }

    /// <summary>The cached budgets as the operator's cache hands them out: typed, from the API server's JSON.</summary>
    private static Func<IReadOnlyList<Aegis.Policy.Resources.AgentBudget>> Budgets(KubernetesTestServer api) => () =>
        [.. api.Objects("aegis.dev", "agentbudgets").Select(o => System.Text.Json.JsonSerializer.Deserialize<Aegis.Policy.Resources.AgentBudget>(o, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!)];

    private static JsonArray? Agents(KubernetesTestServer api) => api.Objects("aegis.dev", "agentbudgets", "fin").Single()["status"]?["agents"] as JsonArray;

    [Fact]
    public async Task Refresh_LiveSpend_WrittenForMatchingAgentsWithExhaustion()
    {
        var (api, client) = await StartAsync();
        await using var _ = api;
        using var __ = client;
        var store = new InMemoryBudgetStore();
        await store.ReserveAsync("acme", "support-1", 1.00m, Unlimited, T0);
        await store.ReserveAsync("acme", "support-2", 0.25m, Unlimited, T0);
        await store.ReserveAsync("acme", "payments-bot", 7m, Unlimited, T0);
        await store.ReserveAsync("globex", "support-3", 7m, Unlimited, T0);
        var writer = new BudgetStatusWriter(client, store, Budgets(api), new ManualTime(T0), NullLogger<BudgetStatusWriter>.Instance);

        Assert.Equal(1, await writer.RefreshAsync());

        Assert.Equal(
            """[{"agentId":"support-1","spentToday":"1.00","spentThisMonth":"1.00","exhausted":true},{"agentId":"support-2","spentToday":"0.25","spentThisMonth":"0.25","exhausted":false}]""",
            Agents(api)!.ToJsonString());

        // The conditions the tenant controller writes are left alone by the agents-only merge patch.
        var budget = api.Objects("aegis.dev", "agentbudgets", "fin").Single();
        Assert.Null(budget["status"]!["conditions"]);
    }

    [Fact]
    public async Task Refresh_SpendChangesFasterThanTheInterval_AtMostOneWritePerInterval()
    {
        var (api, client) = await StartAsync();
        await using var _ = api;
        using var __ = client;
        var store = new InMemoryBudgetStore();
        var time = new ManualTime(T0);
        var writer = new BudgetStatusWriter(client, store, Budgets(api), time, NullLogger<BudgetStatusWriter>.Instance)
        {
            Interval = TimeSpan.FromSeconds(30),
        };

        var writes = new List<int>();
        for (var second = 0; second < 90; second += 5)
        {
            time.Now = T0.AddSeconds(second);
            await store.ReserveAsync("acme", "support-1", 0.01m, Unlimited, time.Now);
            writes.Add(await writer.RefreshAsync());
        }

        // A change every 5 s for 90 s: written at 0, 30 and 60 s, never in between.
        Assert.Equal(3, writes.Sum());
        Assert.Equal([0, 6, 12], writes.Select((w, i) => (w, i)).Where(x => x.w == 1).Select(x => x.i));
        Assert.Equal("0.13", Agents(api)![0]!["spentToday"]!.ToString());

        // What changed after the last write goes out once the interval has passed; then, unchanged, nothing is written.
        time.Now = T0.AddMinutes(10);
        Assert.Equal(1, await writer.RefreshAsync());
        Assert.Equal("0.18", Agents(api)![0]!["spentToday"]!.ToString());
        time.Now = T0.AddMinutes(20);
        Assert.Equal(0, await writer.RefreshAsync());
        Assert.Equal(4, writer.Writes);
    }
}
