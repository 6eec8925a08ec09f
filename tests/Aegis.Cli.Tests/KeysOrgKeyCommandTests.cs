using Aegis.Operator.Tokens;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;

namespace Aegis.Cli.Tests;

public class KeysOrgKeyCommandTests
{
    [Fact]
    public async Task OrgKeyCreate_AgainstTheApiServer_StoresOnlyTheHashAndPrintsTheKeyOnce()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var dir = new TempDirectory();
        var kubeconfig = dir.Write("kubeconfig", $$$"""
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "{{{api.Url}}}"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """);
        string[] args = ["keys", "org-key", "create", "--id", "ci-bot", "--org", "acme-org", "--tenant", "acme", "--agent", "*", "--scope", "tools:call", "--kubeconfig", kubeconfig];

        var run = await CliRun.RunAsync(args);

        Assert.Equal(0, run.ExitCode);
        var key = run.Out.Trim();
        Assert.True(OrgKeys.TryParse(key, out var id, out var secret), run.ToString());
        Assert.Equal("ci-bot", id);
        var stored = api.Objects("", "secrets", "aegis-system").Single()["data"]!["ci-bot"]!.ToString();
        var grant = OrgKeys.Parse(Convert.FromBase64String(stored));
        Assert.DoesNotContain(secret, System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(stored)), StringComparison.Ordinal);
        Assert.True(OrgKeys.Matches(secret, grant.Hash));
        Assert.Equal(["acme"], grant.Tenants);

        var again = await CliRun.RunAsync(args);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operator_KmsSignerWithoutKmsKey_ExitsTwoNamingTheFlag()
    {
        var run = await CliRun.RunAsync("operator", "--signer", "aws-kms");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--kms-key: required with --signer aws-kms", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operator_RetentionShorterThanATokenLifetime_ExitsTwoNamingTheFlag()
    {
        var run = await CliRun.RunAsync("operator", "--key-retention", "00:05:00");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--key-retention", run.Error, StringComparison.Ordinal);
    }
}
