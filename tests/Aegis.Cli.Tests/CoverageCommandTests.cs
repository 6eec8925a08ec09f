using System.Text;
using System.Text.Json.Nodes;
using Aegis.TestSupport;
using Aegis.TestSupport.Audit;

namespace Aegis.Cli.Tests;

public class CoverageCommandTests
{
    private static async Task<string> WriteAsync(TempDirectory dir)
    {
        var chain = new AuditChainBuilder("decision-a", TestKeys.AuditSigner, DateTimeOffset.UnixEpoch).Segment();
        void Calls(int n, string tenant, string tool, string reason)
        {
            for (var i = 0; i < n; i++)
            {
                chain.Decision(new JsonObject { ["decisionId"] = $"{tool}-{i}", ["tenant"] = tenant, ["tool"] = tool, ["effect"] = "deny", ["reason"] = reason });
            }
        }

        Calls(6, "acme", "stripe.transfer", "rule_matched");
        Calls(3, "acme", "crm.export", "default_effect");
        Calls(1, "acme", "stripe.refund", "rule_matched");
        Calls(2, "acme", "stripe.refund", "default_effect");
        Calls(4, "globex", "jira.create", "rule_matched");
        chain.Decision(new JsonObject { ["decisionId"] = "egress", ["tenant"] = "acme", ["host"] = "api.example.com", ["effect"] = "allow", ["reason"] = "rule_matched" });
        await chain.CheckpointAsync();
        foreach (var source in chain.Sources())
        {
            dir.Write(Path.Combine("audit", source.Name), Encoding.UTF8.GetString(source.Content));
        }

        return Path.Combine(dir.Path, "audit");
    }

    [Fact]
    public async Task Coverage_AuditFolder_ListsPerTenantRatiosAndTheToolsDecidedWithoutARule()
    {
        using var dir = new TempDirectory();
        var folder = await WriteAsync(dir);

        var run = await CliRun.RunAsync("coverage", folder);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("tenant acme: 12 tool calls, 7 decided by a rule (58.3 %)", run.Out, StringComparison.Ordinal);
        Assert.Contains("tenant globex: 4 tool calls, 4 decided by a rule (100.0 %)", run.Out, StringComparison.Ordinal);
        var lines = run.Out.Split('\n');
        var crm = Array.FindIndex(lines, l => l.Contains("crm.export", StringComparison.Ordinal));
        var refund = Array.FindIndex(lines, l => l.Contains("stripe.refund", StringComparison.Ordinal));
        Assert.True(crm >= 0 && refund > crm, run.Out);
        Assert.Contains("3/3       crm.export  default_effect 3  (no rule names it)", lines[crm], StringComparison.Ordinal);
        Assert.Contains("2/3       stripe.refund  default_effect 2", lines[refund], StringComparison.Ordinal);
        Assert.DoesNotContain("(no rule names it)", lines[refund], StringComparison.Ordinal);
        Assert.DoesNotContain("stripe.transfer", run.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0.8", 1)]
    [InlineData("0.5", 0)]
    public async Task Coverage_FailUnder_ExitsOneWhenATenantIsBelowTheRatio(string ratio, int exit)
    {
        using var dir = new TempDirectory();
        var folder = await WriteAsync(dir);

        var run = await CliRun.RunAsync("coverage", folder, "--fail-under", ratio);

        Assert.Equal(exit, run.ExitCode);
    }

    [Fact]
    public async Task Coverage_UnknownTenant_SaysThereIsNothingToCount()
    {
        using var dir = new TempDirectory();
        var folder = await WriteAsync(dir);

        var run = await CliRun.RunAsync("coverage", folder, "--tenant", "initech");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("no tool calls in the audit records given for tenant initech", run.Error, StringComparison.Ordinal);
    }
}
