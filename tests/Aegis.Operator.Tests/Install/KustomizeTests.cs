using System.Text.Json.Nodes;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;

namespace Aegis.Operator.Tests.Install;

/// <summary>config/ built by the machine's `kubectl kustomize`, applied to the test API server, and read back.</summary>
public class KustomizeTests
{
    private static async Task<(Dictionary<string, string> Env, string Built, KubernetesTestServer Server, TempDirectory Dir)> BuildAndApplyAsync(string overlay)
    {
        var kubectl = InstallTools.OnPath("kubectl");
        if (kubectl is null)
        {
            Assert.Skip("kubectl is not on PATH (Debian machines of this project have it; CI runs this test)");
        }

        var build = await InstallTools.RunAsync(kubectl!, null, null, "kustomize", Path.Combine(RepositoryPaths.Root, "config", "overlays", overlay));
        Assert.True(build.Exit == 0, build.Err);
        var server = await KubernetesTestServer.StartAsync();
        var dir = new TempDirectory();
        var env = new Dictionary<string, string> { ["KUBECONFIG"] = InstallTools.Kubeconfig(dir, server.Url) };
        var apply = await InstallTools.RunAsync(kubectl!, env, null, "apply", "--validate=false", "-f", dir.Write("built.yaml", build.Out));
        Assert.True(apply.Exit == 0, apply.Out + apply.Err);
        return (env, build.Out, server, dir);
    }

    private static async Task<JsonObject> GetAsync(Dictionary<string, string> env, params string[] what)
    {
        var get = await InstallTools.RunAsync(InstallTools.OnPath("kubectl")!, env, null, ["get", .. what, "-n", "aegis-system", "-o", "json"]);
        Assert.True(get.Exit == 0, get.Err);
        return JsonNode.Parse(get.Out)!.AsObject();
    }

    private static List<string> Args(JsonObject deployment) =>
        deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();

    [Fact]
    public async Task KustomizeDev_OneReplicaEachInMemory_Applies()
    {
        var (env, built, server, dir) = await BuildAndApplyAsync("dev");
        await using var _ = server;
        using var __ = dir;

        var op = await GetAsync(env, "deployment", "aegis-operator");
        var decision = await GetAsync(env, "deployment", "aegis-decision");

        Assert.Equal(1, op["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal(1, decision["spec"]!["replicas"]!.GetValue<int>());
        Assert.DoesNotContain(Args(decision), a => a.StartsWith("--redis", StringComparison.Ordinal));
        Assert.Contains("--configmaps", Args(op));
        Assert.Contains("--bundle-url=https://aegis-operator.aegis-system.svc:8080/bundles/{tenant}", Args(decision));
        Assert.DoesNotContain("kind: PodDisruptionBudget", built, StringComparison.Ordinal);
        Assert.Equal(5, HelmChartTests.Documents(built).Count(d => d.Kind == "CustomResourceDefinition"));
    }

    [Fact]
    public async Task KustomizeProd_RedisS3IrsaAndAutoscaling_Applies()
    {
        var (env, _, server, dir) = await BuildAndApplyAsync("prod");
        await using var _s = server;
        using var _d = dir;

        var op = await GetAsync(env, "deployment", "aegis-operator");
        var decision = await GetAsync(env, "deployment", "aegis-decision");
        var hpa = await GetAsync(env, "horizontalpodautoscaler", "aegis-decision");
        var sa = await GetAsync(env, "serviceaccount", "aegis-operator");

        Assert.Equal(2, op["spec"]!["replicas"]!.GetValue<int>());
        Assert.Null(decision["spec"]!["replicas"]);
        Assert.Contains("--bundle-store=s3", Args(op));
        Assert.Contains("--redis=$(REDIS_URL)", Args(decision));
        Assert.Contains("--redis=$(REDIS_URL)", Args(op));
        Assert.Equal("aegis-decision", hpa["spec"]!["scaleTargetRef"]!["name"]!.GetValue<string>());
        Assert.Equal("arn:aws:iam::111122223333:role/aegis-operator", sa["metadata"]!["annotations"]!["eks.amazonaws.com/role-arn"]!.GetValue<string>());
        Assert.Equal(2, (await GetAsync(env, "poddisruptionbudget", "aegis-decision"))["spec"]!["minAvailable"]!.GetValue<int>());
    }
}
