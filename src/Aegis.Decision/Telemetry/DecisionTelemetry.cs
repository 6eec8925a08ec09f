using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Aegis.Decision.Bundles;

namespace Aegis.Decision.Telemetry;

/// <summary>The decision server's span source and counters, written out in the Prometheus text format.</summary>
public sealed class DecisionTelemetry
{
    /// <summary>Name of the ActivitySource every decision span comes from.</summary>
    public const string SourceName = "Aegis.Decision";

    /// <summary>The source of decision spans.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    private static readonly double[] LatencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

    private readonly ConcurrentDictionary<(string Effect, string Reason), long> _decisions = new();
    private readonly ConcurrentDictionary<(string Policy, string Effect), long> _shadow = new();
    private readonly ConcurrentDictionary<(string Tenant, string Agent), decimal> _spend = new();
    private readonly ConcurrentDictionary<string, ToolCallCounts> _toolCalls = new(StringComparer.Ordinal);
    private readonly long[] _latencyCounts = new long[LatencyBuckets.Length + 1];
    private long _latencySumTicks;
    private long _latencyCount;

    /// <summary>Counts one decision and its latency.</summary>
    public void Record(string effect, string reason, TimeSpan elapsed)
    {
        _decisions.AddOrUpdate((effect, reason), 1, (_, n) => n + 1);
        var seconds = elapsed.TotalSeconds;
        var bucket = 0;
        while (bucket < LatencyBuckets.Length && seconds > LatencyBuckets[bucket])
        {
            bucket++;
        }

        Interlocked.Increment(ref _latencyCounts[bucket]);
        Interlocked.Add(ref _latencySumTicks, elapsed.Ticks);
        Interlocked.Increment(ref _latencyCount);
    }

    /// <summary>The label for calls whose tenant is unknown (no valid token).</summary>
    public const string UnknownTenant = "unknown";

    /// <summary>The audit log whose commit and shipping figures /metrics reports, when there is one.</summary>
    public Audit.AuditLog? Audit { get; set; }

    /// <summary>The uploader whose backlog /metrics reports, when closed segments are archived.</summary>
    public Audit.Archive.AuditArchiveUploader? Archive { get; set; }

    /// <summary>
    /// Counts one tool call (a call with a tool name) for policy coverage: decided by an explicit rule (reason
    /// rule_matched) or otherwise (a default effect, no policy, a refusal).
    /// </summary>
    public void RecordToolCall(string? tenant, string reason)
    {
        var counts = _toolCalls.GetOrAdd(tenant ?? UnknownTenant, static _ => new ToolCallCounts());
        Interlocked.Increment(ref counts.Total);
        if (reason == Aegis.Policy.Decisions.DecisionReasons.RuleMatched)
        {
            Interlocked.Increment(ref counts.RuleMatched);
        }
    }

    /// <summary>Tool calls decided by an explicit rule ÷ all tool calls of <paramref name="tenant"/> since start; null before the first.</summary>
    public double? CoverageRatio(string tenant) =>
        _toolCalls.TryGetValue(tenant, out var c) && Interlocked.Read(ref c.Total) is > 0 and var total
            ? (double)Interlocked.Read(ref c.RuleMatched) / total
            : null;

    /// <summary>Counts a shadow policy's would-be effect.</summary>
    public void RecordShadow(string policy, string effect) => _shadow.AddOrUpdate((policy, effect), 1, (_, n) => n + 1);

    /// <summary>Adds reserved or reconciled spend (USD) of one agent, as this replica saw it.</summary>
    public void RecordSpend(string tenant, string agent, decimal amount) => _spend.AddOrUpdate((tenant, agent), amount, (_, total) => total + amount);

    /// <summary>The metrics in the Prometheus text exposition format (version 0.0.4).</summary>
    public string WritePrometheus(BundleStore bundles, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP aegis_decisions_total Decisions by effect and reason.\n# TYPE aegis_decisions_total counter\n");
        foreach (var ((effect, reason), count) in _decisions.OrderBy(k => k.Key))
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_decisions_total{{effect=\"{effect}\",reason=\"{reason}\"}} {count}\n");
        }

        sb.Append("# HELP aegis_shadow_decisions_total Would-be effects of shadow-mode policies.\n# TYPE aegis_shadow_decisions_total counter\n");
        foreach (var ((policy, effect), count) in _shadow.OrderBy(k => k.Key))
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_shadow_decisions_total{{policy=\"{Escape(policy)}\",effect=\"{effect}\"}} {count}\n");
        }

        sb.Append("# HELP aegis_decision_duration_seconds Time to decide, from request to answer.\n# TYPE aegis_decision_duration_seconds histogram\n");
        long cumulative = 0;
        for (var i = 0; i < LatencyBuckets.Length; i++)
        {
            cumulative += Volatile.Read(ref _latencyCounts[i]);
            sb.Append(CultureInfo.InvariantCulture, $"aegis_decision_duration_seconds_bucket{{le=\"{LatencyBuckets[i]}\"}} {cumulative}\n");
        }

        cumulative += Volatile.Read(ref _latencyCounts[^1]);
        sb.Append(CultureInfo.InvariantCulture, $"aegis_decision_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_decision_duration_seconds_sum {TimeSpan.FromTicks(Volatile.Read(ref _latencySumTicks)).TotalSeconds}\n");
        sb.Append(CultureInfo.InvariantCulture, $"aegis_decision_duration_seconds_count {Volatile.Read(ref _latencyCount)}\n");

        sb.Append("# HELP aegis_spend_usd_total Spend reserved and reconciled through this replica, per agent.\n# TYPE aegis_spend_usd_total counter\n");
        foreach (var ((tenant, agent), amount) in _spend.OrderBy(k => k.Key))
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_spend_usd_total{{tenant=\"{tenant}\",agent_id=\"{Escape(agent)}\"}} {amount}\n");
        }

        WriteCoverage(sb);
        AuditMetrics.Write(sb, Audit, Archive);
        sb.Append("# HELP aegis_bundle_info The active bundle revision of each tenant.\n# TYPE aegis_bundle_info gauge\n");
        sb.Append("# HELP aegis_bundle_age_seconds Seconds since each tenant's bundle was loaded.\n# TYPE aegis_bundle_age_seconds gauge\n");
        foreach (var (tenant, bundle) in bundles.Bundles.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_bundle_info{{tenant=\"{tenant}\",revision=\"{bundle.Revision}\"}} 1\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_bundle_age_seconds{{tenant=\"{tenant}\"}} {(now - bundle.LoadedAt).TotalSeconds:0.###}\n");
        }

        sb.Append("# HELP aegis_bundles_refused_total Bundles refused, by reason.\n# TYPE aegis_bundles_refused_total counter\n");
        foreach (var (reason, count) in bundles.Refusals.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"aegis_bundles_refused_total{{reason=\"{reason}\"}} {count}\n");
        }

        return sb.ToString();
    }

    private void WriteCoverage(StringBuilder sb)
    {
        sb.Append("# HELP aegis_tool_calls_total Tool calls (calls with a tool name) by tenant.\n# TYPE aegis_tool_calls_total counter\n");
        sb.Append("# HELP aegis_tool_calls_rule_matched_total Tool calls decided by an explicit rule (reason rule_matched).\n# TYPE aegis_tool_calls_rule_matched_total counter\n");
        sb.Append("# HELP aegis_policy_coverage_ratio Tool calls decided by an explicit rule / all tool calls, since the server started.\n# TYPE aegis_policy_coverage_ratio gauge\n");
        foreach (var (tenant, counts) in _toolCalls.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            var total = Interlocked.Read(ref counts.Total);
            var matched = Interlocked.Read(ref counts.RuleMatched);
            sb.Append(CultureInfo.InvariantCulture, $"aegis_tool_calls_total{{tenant=\"{Escape(tenant)}\"}} {total}\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_tool_calls_rule_matched_total{{tenant=\"{Escape(tenant)}\"}} {matched}\n");
            sb.Append(CultureInfo.InvariantCulture, $"aegis_policy_coverage_ratio{{tenant=\"{Escape(tenant)}\"}} {(total == 0 ? 0 : (double)matched / total):0.####}\n");
        }
    }

    internal static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}

/// <summary>Tool-call counters of one tenant (fields, so they can be incremented atomically).</summary>
internal sealed class ToolCallCounts
{
    public long Total;
    public long RuleMatched;
}
