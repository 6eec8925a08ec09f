using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

public class OperatorCommandTests
{
    [Fact]
    public async Task Operator_MissingKey_ExitsTwoNamingTheFile()
    {
        var run = await CliRun.RunAsync("operator", "--key", "/nonexistent/key.pem");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("/nonexistent/key.pem", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operator_BadKubeconfig_ExitsTwoWithTheReason()
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);
        var kubeconfig = dir.Write("kubeconfig", "not: [a kubeconfig");

        var run = await CliRun.RunAsync("operator", "--key", Path.Combine(dir.Path, "bundle-key.pem"), "--kubeconfig", kubeconfig);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no usable Kubernetes configuration", run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("s3")]
    [InlineData("gcs")]
    public async Task Operator_ObjectStoreWithoutBucket_ExitsTwoNamingTheFlag(string store)
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);
        var kubeconfig = dir.Write("kubeconfig", """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """);

        var run = await CliRun.RunAsync("operator", "--key", Path.Combine(dir.Path, "bundle-key.pem"), "--kubeconfig", kubeconfig, "--bundle-store", store);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"--bucket: required with --bundle-store {store}", run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url", "--s3-endpoint: \"not a url\" is not an absolute http(s) URL")]
    [InlineData("http://minio.storage:9000", "--bucket: required with --bundle-store s3")]
    public async Task Operator_S3Endpoint_ParsedAsAnAbsoluteUrlOrRefusedByName(string endpoint, string expected)
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);

        var run = await CliRun.RunAsync("operator", "--key", Path.Combine(dir.Path, "bundle-key.pem"), "--bundle-store", "s3", "--s3-endpoint", endpoint);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(expected, run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operator_DecisionAddressWithoutPort_ExitsTwoNamingTheFlag()
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);

        var run = await CliRun.RunAsync("operator", "--key", Path.Combine(dir.Path, "bundle-key.pem"), "--decision-address", "aegis-decision");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--decision-address: decision address \"aegis-decision\" is not host:port", run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--approver-group", "finance", "--approver-group: \"finance\" is not NAME=USER[,USER...]")]
    [InlineData("--approver-group", "finance=", "--approver-group: group \"finance\" has no members")]
    [InlineData("--approval-retention", "a day", "--approval-retention:")]
    public async Task Operator_BadApprovalFlag_ExitsTwoNamingTheFlag(string flag, string value, string message)
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);

        var run = await CliRun.RunAsync("operator", "--key", Path.Combine(dir.Path, "bundle-key.pem"), flag, value);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
    }
}
