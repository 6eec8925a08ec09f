using System.Text.Json.Nodes;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;

namespace Aegis.Cli.Tests;

public class ApprovalCommandsTests
{
    private static async Task<(KubernetesTestServer Api, string Kubeconfig, TempDirectory Dir)> StartAsync()
    {
        var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(new JsonObject
        {
            ["apiVersion"] = "aegis.dev/v1alpha1", ["kind"] = "ApprovalRequest", ["metadata"] = new JsonObject { ["name"] = "ar-1", ["namespace"] = "fin" },
            ["spec"] = new JsonObject
            {
                ["tenant"] = "acme", ["agentId"] = "payments-bot", ["tool"] = "stripe.transfer", ["argsDigest"] = new string('a', 64),
                ["approvers"] = new JsonArray("slack:U0ALICE"), ["expiresAt"] = "2099-01-01T00:00:00Z",
            },
        }, "aegis.dev", "v1alpha1", "fin", "approvalrequests");
        var dir = new TempDirectory();
        var kubeconfig = dir.Write("kubeconfig", $$$"""
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "{{{api.Url}}}"}}]
            users: [{name: alice, user: {token: t}}]
            contexts: [{name: x, context: {cluster: c, user: alice}}]
            current-context: x
            """);
        return (api, kubeconfig, dir);
    }

    [Theory]
    [InlineData("approve", "Approved")]
    [InlineData("deny", "Denied")]
    public async Task Decide_PendingRequest_StatusPatchedWithTheKubeconfigUser(string verb, string phase)
    {
        var (api, kubeconfig, dir) = await StartAsync();
        await using var _ = api;
        using var __ = dir;

        var run = await CliRun.RunAsync(verb, "ar-1", "-n", "fin", "--kubeconfig", kubeconfig, "--reason", "checked the invoice");

        Assert.True(run.ExitCode == 0, run.ToString());
        var status = api.Objects("aegis.dev", "approvalrequests", "fin").Single()["status"]!;
        Assert.Equal(phase, status["phase"]!.ToString());
        Assert.Equal("kubernetes:alice", status["decidedBy"]!.ToString());
        Assert.Equal("checked the invoice", status["reason"]!.ToString());
        Assert.NotNull(status["decidedAt"]);
    }

    [Fact]
    public async Task Approve_AlreadyDecided_ExitsOneNamingWhoDecided()
    {
        var (api, kubeconfig, dir) = await StartAsync();
        await using var _ = api;
        using var __ = dir;
        await CliRun.RunAsync("deny", "ar-1", "-n", "fin", "--kubeconfig", kubeconfig);

        var run = await CliRun.RunAsync("approve", "ar-1", "-n", "fin", "--kubeconfig", kubeconfig);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("already Denied (by kubernetes:alice)", run.Error, StringComparison.Ordinal);
        Assert.Equal("Denied", api.Objects("aegis.dev", "approvalrequests", "fin").Single()["status"]!["phase"]!.ToString());
    }

    [Fact]
    public async Task Approve_UnknownName_ExitsOneSayingNotFound()
    {
        var (api, kubeconfig, dir) = await StartAsync();
        await using var _ = api;
        using var __ = dir;

        var run = await CliRun.RunAsync("approve", "ar-missing", "-n", "fin", "--kubeconfig", kubeconfig);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("ApprovalRequest fin/ar-missing not found", run.Error, StringComparison.Ordinal);
    }
}
