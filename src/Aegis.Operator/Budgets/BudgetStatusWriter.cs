using System.Text.Json.Nodes;
using Aegis.Contracts.State;
using Aegis.Operator.Controllers;
using Aegis.Policy.Loading;
using Aegis.Policy.Matching;
using Aegis.Policy.Resources;
using Aegis.Policy.Values;
using k8s;
using k8s.Models;

namespace Aegis.Operator.Budgets;

/// <summary>
/// Copies live spend from the budget store into each AgentBudget's <c>status.agents</c>. Writes go through the status
/// subresource as a merge patch of <c>agents</c> alone (conditions stay the tenant controller's), only when the
/// numbers changed, and at most once per object per <see cref="Interval"/>: a busy agent never causes a write storm.
/// It runs only while this replica leads (a leader runnable).
/// </summary>
public sealed partial class BudgetStatusWriter(IKubernetes client, IBudgetStore store, Func<IReadOnlyList<AgentBudget>> budgets, TimeProvider time, ILogger<BudgetStatusWriter> logger)
    : IRunnable
{
    /// <summary>Most agents listed in one status; the biggest spenders this month are kept.</summary>
    public const int MaxAgents = 100;

    private readonly Dictionary<string, DateTimeOffset> _lastWrite = new(StringComparer.Ordinal);

    /// <summary>How often spend is read, and the least time between two writes to one object.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Status writes made so far.</summary>
    public int Writes { get; private set; }

    /// <summary>Refreshes now and then every interval, until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            try
            {
                await RefreshAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Redis or the API server is away: status is informational, the next tick tries again.
                LogRefreshFailed(logger, e.Message);
            }
        }
        while (await WaitAsync(timer, cancellationToken).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One pass over every cached AgentBudget; returns how many statuses were written.</summary>
    public async Task<int> RefreshAsync(CancellationToken cancellationToken = default)
    {
        var written = 0;
        var now = time.GetUtcNow();
        foreach (var budget in budgets())
        {
            var (ns, name) = (budget.Metadata.Namespace ?? "default", budget.Metadata.Name);
            var key = budget.Metadata.Uid ?? $"{ns}/{name}";
            if (_lastWrite.TryGetValue(key, out var last) && now - last < Interval)
            {
                continue;
            }

            // Invalid budgets are reported by the tenant controller (Accepted=False); there is nothing to count for them.
            var valid = true;
            ResourceValidator.Validate(budget, (_, _) => valid = false);
            if (!valid)
            {
                continue;
            }

            var desired = await DesiredAgentsAsync(budget.Spec, now, cancellationToken).ConfigureAwait(false);
            if (JsonNode.DeepEquals(desired, Written(budget.Status?.Agents)) || (desired.Count == 0 && budget.Status?.Agents is null))
            {
                continue;
            }

            await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
                new V1Patch(new JsonObject { ["status"] = new JsonObject { ["agents"] = desired } }.ToJsonString(), V1Patch.PatchType.MergePatch),
                AegisObject.Group, AegisObject.Version, ns, "agentbudgets", name, cancellationToken: cancellationToken).ConfigureAwait(false);
            _lastWrite[key] = now;
            written++;
            Writes++;
        }

        return written;
    }

    /// <summary>The agents a status holds, in the form <see cref="DesiredAgentsAsync"/> writes them.</summary>
    private static JsonArray? Written(List<AgentSpend>? agents) => agents is null ? null : new JsonArray([.. agents.Select(a => (JsonNode)new JsonObject
    {
        ["agentId"] = a.AgentId,
        ["spentToday"] = a.SpentToday,
        ["spentThisMonth"] = a.SpentThisMonth,
        ["exhausted"] = a.Exhausted,
    })]);

    private async Task<JsonArray> DesiredAgentsAsync(AgentBudgetSpec spec, DateTimeOffset now, CancellationToken cancellationToken)
    {
        TimeZones.TryFind(spec.TimeZone ?? "UTC", out var zone);
        decimal? daily = spec.Daily is not null && Money.TryParse(spec.Daily, out var d, out _) ? d : null;
        decimal? monthly = spec.Monthly is not null && Money.TryParse(spec.Monthly, out var m, out _) ? m : null;
        var agents = GlobSet.Of(spec.Agents);
        var readings = (await store.ListSpendAsync(spec.Tenant, zone, now, cancellationToken).ConfigureAwait(false))
            .Where(r => agents.IsMatch(r.AgentId))
            .OrderByDescending(r => r.Spend.ThisMonth).Take(MaxAgents)
            .OrderBy(r => r.AgentId, StringComparer.Ordinal);
        var array = new JsonArray();
        foreach (var reading in readings)
        {
            // Exhausted: no call with a positive cost fits any more (the decision server's own test is spent + cost ≤ limit).
            var exhausted = reading.Spend.Today >= daily || reading.Spend.ThisMonth >= monthly;
            array.Add(new JsonObject
            {
                ["agentId"] = reading.AgentId,
                ["spentToday"] = Money.Format(reading.Spend.Today),
                ["spentThisMonth"] = Money.Format(reading.Spend.ThisMonth),
                ["exhausted"] = exhausted,
            });
        }

        return array;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "refreshing AgentBudget status failed, retrying next interval: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string reason);
}
