using System.Net.Http.Headers;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>
/// <c>aegis serve --manifests</c> as a real process while its folder is edited: a broken file is reported by name, the
/// server keeps answering with the last good revision, and the fixed file's revision arrives.
/// </summary>
public class ServeWatchTests
{
    [Fact]
    public async Task Serve_BrokenFileSaved_KeepsServingTheLastGoodRevisionUntilItIsFixed()
    {
        using var dir = new TempDirectory();
        var policyFile = dir.Write("manifests/p.yaml", ServedPolicy.Yaml);
        var other = dir.Write("manifests/other.yaml", ServedPolicy.Yaml.Replace("name: p,", "name: other,", StringComparison.Ordinal).Replace("\"x\"", "\"y\"", StringComparison.Ordinal));
        var state = Path.Combine(dir.Path, "state");
        await using var serve = CliProcess.Start("serve", "--manifests", Path.Combine(dir.Path, "manifests"), "--state-dir", state, "--grpc-port", "0", "--http-port", "0");
        var banner = await serve.WaitForAsync(@"JSON API\s+http://127\.0\.0\.1:(\d+)/v1/decide", "the serve banner");
        using var http = new HttpClient { BaseAddress = new Uri("http://127.0.0.1:" + banner.Groups[1].Value) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await CliRun.RunAsync("token", "--agent", "bot", "--tenant", "acme", "--key", Path.Combine(state, "keys", "token-key.pem"))).Out.Trim());
        var (effect, revision) = await ServedPolicy.DecideAsync(http, "x");
        Assert.Equal("allow", effect);

        // The broken file held one of acme's two policies: compiling the other alone would drop it from the bundle.
        File.WriteAllText(other, "apiVersion: aegis.dev/v1alpha1\nkind: AgentPolicy\nmetadata: {name: other, namespace: dev\nspec: [\n");
        await serve.WaitForAsync(@"other\.yaml: cannot be read; every tenant keeps its last good bundle", "the broken file reported by name");

        Assert.Contains($"{other}:4:1: YAML syntax error", serve.Output, StringComparison.Ordinal);
        Assert.Equal(("allow", revision), await ServedPolicy.DecideAsync(http, "x"));
        Assert.Equal("allow", (await ServedPolicy.DecideAsync(http, "y")).Effect);

        File.WriteAllText(other, ServedPolicy.Yaml.Replace("name: p,", "name: other,", StringComparison.Ordinal).Replace("\"x\"", "\"y\"", StringComparison.Ordinal));
        File.WriteAllText(policyFile, ServedPolicy.Yaml.Replace("effect: allow", "effect: deny", StringComparison.Ordinal));
        await Eventually.TrueAsync(async () => (await ServedPolicy.DecideAsync(http, "x")).Effect == "deny", "the fixed folder's new revision denying", TimeSpan.FromSeconds(30));

        Assert.NotEqual(revision, (await ServedPolicy.DecideAsync(http, "x")).Revision);
        Assert.DoesNotContain("Unhandled exception", serve.Output, StringComparison.Ordinal);
        await serve.SignalAsync("TERM");
        Assert.Equal(0, await serve.ExitCodeAsync(TimeSpan.FromSeconds(20)));
    }
}
