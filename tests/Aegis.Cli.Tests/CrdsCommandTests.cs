using System.Text.Json.Nodes;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

public class CrdsCommandTests
{
    [Fact]
    public void CheckedInCrds_AreWhatTheModelGenerates()
    {
        var dir = Path.Combine(RepositoryPaths.Root, "crds");
        foreach (var (fileName, yaml) in CrdGenerator.GenerateAll())
        {
            var path = Path.Combine(dir, fileName);
            Assert.True(File.Exists(path), $"{path} is missing: run make crds");
            Assert.True(yaml == File.ReadAllText(path), $"{path} is stale: run make crds and commit the result");
        }

        Assert.Equal(
            CrdGenerator.GenerateAll().Select(g => g.FileName).Order(StringComparer.Ordinal),
            Directory.EnumerateFiles(dir, "*.yaml").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void CheckedInCrdReference_IsWhatTheModelGenerates()
    {
        var path = Path.Combine(RepositoryPaths.Root, "docs", "crds.md");

        Assert.True(File.Exists(path), $"{path} is missing: run make crds");
        Assert.True(CrdMarkdown.Render() == File.ReadAllText(path), $"{path} is stale: run make crds and commit the result");
    }

    [Fact]
    public async Task Crds_Markdown_DocumentsEveryKindAndField()
    {
        using var dir = new TempDirectory();
        var reference = Path.Combine(dir.Path, "crds.md");

        var run = await CliRun.RunAsync("crds", "--out", dir.Path, "--markdown", reference);

        Assert.Equal(0, run.ExitCode);
        var text = File.ReadAllText(reference);
        Assert.All(["## AgentPolicy", "## AgentBudget", "## TenantRegion", "## ApprovalRequest"], h => Assert.Contains(h, text, StringComparison.Ordinal));
        Assert.Contains("| `spec.tenant` | string | yes |", text, StringComparison.Ordinal);
        Assert.Contains("| `spec.rules[].effect` |", text, StringComparison.Ordinal);
        Assert.Contains("`approval_needed`", text, StringComparison.Ordinal);
        Assert.Contains("| `spec.regionHosts` | map[string][]string |", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crds_WritesOneFilePerKind()
    {
        using var dir = new TempDirectory();
        var run = await CliRun.RunAsync("crds", "--out", dir.Path);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(5, Directory.GetFiles(dir.Path, "aegis.dev_*.yaml").Length);
    }

    [Theory]
    [InlineData(typeof(AgentPolicy), "agentpolicies", "ap", "Tenant,Mode,Ready,Revision,Age")]
    [InlineData(typeof(AgentBudget), "agentbudgets", "ab", "Tenant,Daily,Monthly,Ready,Revision,Age")]
    [InlineData(typeof(TenantRegion), "tenantregions", "tr", "Tenant,Ready,Revision,Age")]
    [InlineData(typeof(ToolServer), "toolservers", "ts", "Tenant,Protocol,URL,Ready,Revision,Age")]
    [InlineData(typeof(ApprovalRequest), "approvalrequests", "ar", "Tenant,Agent,Tool,Phase,Age")]
    public void Generate_Kind_HasNamesColumnsStatusAndSchema(Type kind, string plural, string shortName, string columns)
    {
        var errors = new List<LoadError>();
        var crd = (JsonObject)YamlJson.Parse(CrdGenerator.Generate(kind), "crd.yaml", errors).Single()!;
        Assert.Empty(errors);

        Assert.Equal($"{plural}.aegis.dev", crd["metadata"]!["name"]!.ToString());
        var names = crd["spec"]!["names"]!;
        Assert.Equal(shortName, names["shortNames"]![0]!.ToString());
        Assert.Equal("aegis", names["categories"]![0]!.ToString());
        Assert.Equal("Namespaced", crd["spec"]!["scope"]!.ToString());
        var version = crd["spec"]!["versions"]![0]!;
        Assert.NotNull(version["subresources"]!["status"]);
        Assert.Equal(columns, string.Join(",", version["additionalPrinterColumns"]!.AsArray().Select(c => c!["name"]!.ToString())));
        var spec = version["schema"]!["openAPIV3Schema"]!["properties"]!["spec"]!;
        Assert.Equal("object", spec["type"]!.ToString());
        Assert.Contains("tenant", spec["required"]!.AsArray().Select(r => r!.ToString()));
        Assert.Equal(Aegis.Policy.Resources.ResourcePatterns.DnsLabel, spec["properties"]!["tenant"]!["pattern"]!.ToString());
    }

    [Fact]
    public void Generate_AgentPolicy_CarriesEnumsDefaultsListKeysAndCelRules()
    {
        var crd = (JsonObject)YamlJson.Parse(CrdGenerator.Generate(typeof(AgentPolicy)), "crd.yaml", []).Single()!;
        var spec = crd["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!["properties"]!["spec"]!["properties"]!;

        Assert.Equal(["enforce", "shadow"], spec["mode"]!["enum"]!.AsArray().Select(e => e!.ToString()));
        Assert.Equal("enforce", spec["mode"]!["default"]!.ToString());
        Assert.Equal("map", spec["rules"]!["x-kubernetes-list-type"]!.ToString());
        Assert.Equal("name", spec["rules"]!["x-kubernetes-list-map-keys"]![0]!.ToString());
        var rules = spec["rules"]!["items"]!["x-kubernetes-validations"]!.AsArray().Select(r => r!["rule"]!.ToString()).ToList();
        Assert.Contains("self.effect != 'approval_needed' || has(self.approval)", rules);
    }
}
