using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Aegis.Decision.Audit.Archive;
using Aegis.Policy.Audit;
using Aegis.Policy.Decisions;

namespace Aegis.Cli.Commands;

/// <summary>
/// <c>aegis coverage AUDIT...</c>: per tenant, how many tool calls an explicit rule decided (reason rule_matched) out
/// of all tool calls in the audit logs, and the tools that were decided without one (a default effect, no policy,
/// a refusal), with counts: the tools a policy still has to name.
/// </summary>
internal static class CoverageCommand
{
    public static Command Create(CliConsole console)
    {
        var sources = new Argument<string[]>("audit") { Description = "Audit segments: files, folders, s3://bucket/prefix or gs://bucket/prefix", Arity = ArgumentArity.OneOrMore };
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant" };
        var failUnder = new Option<double?>("--fail-under") { Description = "Exit 1 when a tenant's coverage is below this ratio (0.8 = the seed's 80 % target)" };
        var s3Endpoint = AuditFlags.AbsoluteUri("--s3-endpoint", "S3-compatible endpoint for s3:// sources");
        var gcsEndpoint = AuditFlags.AbsoluteUri("--gcs-endpoint", "Cloud Storage endpoint for gs:// sources");
        var command = new Command("coverage", "Policy coverage from audit logs: tool calls decided by an explicit rule, and the tools no rule named") { sources, tenant, failUnder, s3Endpoint, gcsEndpoint };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(failUnder) is < 0 or > 1)
            {
                console.Error.WriteLine("--fail-under: a ratio between 0 and 1");
                return AegisCommand.BadInput;
            }

            var tally = new Dictionary<string, TenantTally>(StringComparer.Ordinal);
            foreach (var source in parse.GetValue(sources)!)
            {
                List<AuditSource> loaded;
                try
                {
                    loaded = await AuditCommand.LoadAsync(source, parse.GetValue(s3Endpoint), parse.GetValue(gcsEndpoint), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or AuditArchiveException or InvalidOperationException)
                {
                    console.Error.WriteLine($"{source}: {e.Message}");
                    return AegisCommand.BadInput;
                }

                foreach (var file in loaded)
                {
                    Count(file, parse.GetValue(tenant), tally);
                }
            }

            if (tally.Count == 0)
            {
                console.Error.WriteLine("no tool calls in the audit records given" + (parse.GetValue(tenant) is { } t ? $" for tenant {t}" : ""));
                return 1;
            }

            var below = false;
            foreach (var (name, counts) in tally.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                var ratio = (double)counts.RuleMatched / counts.Total;
                below |= ratio < parse.GetValue(failUnder);
                console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tenant {name}: {counts.Total} tool calls, {counts.RuleMatched} decided by a rule ({ratio:P1})"));
                var uncovered = counts.Tools.Where(t => t.Value.Uncovered > 0).OrderByDescending(t => t.Value.Uncovered).ThenBy(t => t.Key, StringComparer.Ordinal).ToList();
                if (uncovered.Count > 0)
                {
                    console.Out.WriteLine("  decided without a rule (uncovered/calls  tool  reasons):");
                }

                foreach (var (tool, t) in uncovered)
                {
                    var reasons = string.Join(", ", t.Reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}"));
                    console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {t.Uncovered,6}/{t.Calls,-6}  {tool}  {reasons}{(t.Uncovered == t.Calls ? "  (no rule names it)" : "")}"));
                }
            }

            console.Out.WriteLine("(counted from the records as given; aegis audit verify checks that they are intact)");
            return below ? 1 : 0;
        });
        return command;
    }

    private static void Count(AuditSource file, string? onlyTenant, Dictionary<string, TenantTally> tally)
    {
        ReadOnlyMemory<byte> content = file.Content;
        while (content.Length > 0)
        {
            var end = content.Span.IndexOf((byte)'\n');
            var line = end < 0 ? content : content[..end];
            content = end < 0 ? ReadOnlyMemory<byte>.Empty : content[(end + 1)..];
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object || Text(root, "type") != AuditLineType.Decision || Text(root, "tool") is not { } tool)
                {
                    continue;
                }

                var tenant = Text(root, "tenant") ?? "unknown";
                if (onlyTenant is not null && tenant != onlyTenant)
                {
                    continue;
                }

                var reason = Text(root, "reason") ?? "";
                var counts = tally.TryGetValue(tenant, out var c) ? c : tally[tenant] = new TenantTally();
                counts.Total++;
                var toolCounts = counts.Tools.TryGetValue(tool, out var tc) ? tc : counts.Tools[tool] = new ToolTally();
                toolCounts.Calls++;
                if (reason == DecisionReasons.RuleMatched)
                {
                    counts.RuleMatched++;
                }
                else
                {
                    toolCounts.Uncovered++;
                    toolCounts.Reasons[reason] = toolCounts.Reasons.GetValueOrDefault(reason) + 1;
                }
            }
            catch (JsonException)
            {
                // A torn or foreign line: coverage counts what it can read; verify is the integrity check.
            }
        }
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private sealed class TenantTally
    {
        public long Total { get; set; }
        public long RuleMatched { get; set; }
        public Dictionary<string, ToolTally> Tools { get; } = new(StringComparer.Ordinal);
    }

    private sealed class ToolTally
    {
        public long Calls { get; set; }
        public long Uncovered { get; set; }
        public Dictionary<string, long> Reasons { get; } = new(StringComparer.Ordinal);
    }
}
