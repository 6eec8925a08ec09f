using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>Files that cannot be read, and test files that load nothing: a named error and exit 1, never a stack trace.</summary>
public class BrokenInputCommandTests
{
    /// <summary>The case the issue reported: YamlDotNet's scanner threw InvalidOperationException on it.</summary>
    private const string UnclosedFlowMapping = "apiVersion: aegis.dev/v1alpha1\nkind: AgentPolicy\nmetadata: {name: p6, namespace: ns\nspec: [\n";

    public static TheoryData<string> FileOrFolder => ["file", "folder"];

    [Theory]
    [MemberData(nameof(FileOrFolder))]
    public async Task Validate_UnreadableYaml_PrintsTheErrorWithItsPositionAndExitsOne(string given)
    {
        using var dir = new TempDirectory();
        dir.Write("good.yaml", ServedPolicy.Yaml);
        var broken = dir.Write("broken.yaml", UnclosedFlowMapping);

        var run = await CliRun.RunAsync("validate", given == "file" ? broken : dir.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"{broken}:4:1: YAML syntax error: cannot be read from here on (look for a bracket, brace or quote left open above)\n", run.Error);
        Assert.DoesNotContain("Exception", run.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_PoliciesInAFolderReachedThroughDotDot_AreLoadedAndTheCasesRun()
    {
        using var dir = new TempDirectory();
        dir.Write("manifests/p.yaml", ServedPolicy.Yaml);
        dir.Write("tests/p_test.yaml", """
            policies: ["../manifests"]
            cases:
              - name: allowed
                input: { tenant: acme, agent: { id: a }, tool: x }
                expect: { effect: allow, rule: first }
            """);

        var run = await CliRun.RunAsync("test", Path.Combine(dir.Path, "tests"));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.EndsWith("1 passed, 0 failed\n", run.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""["empty"]""", "hold no Aegis object")]
    [InlineData("""[3]""", "every entry must be a path")]
    [InlineData("""[""]""", "every entry must be a path")]
    public async Task Test_PoliciesThatLoadNothing_FailNamingThePath(string policies, string reason)
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir.Path, "empty"));
        var testFile = dir.Write("p_test.yaml", $$"""
            policies: {{policies}}
            cases:
              - name: anything
                input: { tenant: acme, agent: { id: a }, tool: x }
                expect: { effect: deny }
            """);

        var run = await CliRun.RunAsync("test", dir.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains(testFile, run.Error, StringComparison.Ordinal);
        Assert.Contains(reason, run.Error, StringComparison.Ordinal);
        if (policies.Contains("empty", StringComparison.Ordinal))
        {
            Assert.Contains(Path.Combine(dir.Path, "empty"), run.Error, StringComparison.Ordinal);
        }

        Assert.EndsWith("0 passed, 1 failed\n", run.Out, StringComparison.Ordinal);
    }
}
