using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

public class ServeCommandTests
{
    [Fact]
    public async Task Token_MintsAVerifiableTokenWithTheLocalKey()
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);

        var run = await CliRun.RunAsync("token", "--agent", "bot-1", "--tenant", "acme", "--scope", "pay", "--ttl", "5m", "--key", Path.Combine(dir.Path, "signing-key.pem"));

        Assert.True(run.ExitCode == 0, run.ToString());
        var jwks = JsonWebKeySet.Parse(File.ReadAllText(Path.Combine(dir.Path, "jwks.json")));
        var check = AgentTokens.Verify(run.Out.Trim(), jwks, DateTimeOffset.UtcNow);
        Assert.Equal(("bot-1", "acme"), (check.Token!.AgentId, check.Token.Tenant));
        Assert.Equal(["pay"], check.Token.Scopes);
        Assert.Equal(2, (await CliRun.RunAsync("token", "--agent", "a", "--tenant", "t", "--ttl", "1h", "--key", Path.Combine(dir.Path, "signing-key.pem"))).ExitCode);
    }

    [Fact]
    public async Task Serve_CompilesServesAndRecompilesOnChange()
    {
        using var dir = new TempDirectory();
        var manifests = Path.Combine(dir.Path, "manifests");
        var policyFile = dir.Write("manifests/p.yaml", ServedPolicy.Yaml);
        var state = Path.Combine(dir.Path, "state");
        var output = new StringWriter();
        var stdout = TextWriter.Synchronized(output);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var serve = AegisCommand.RunAsync(["serve", "--manifests", manifests, "--state-dir", state, "--grpc-port", "0", "--http-port", "0"], stdout, TextWriter.Synchronized(new StringWriter()), stop.Token);

        Match banner = Match.Empty;
        await Eventually.TrueAsync(() => (banner = Regex.Match(output.ToString(), @"JSON API\s+http://127\.0\.0\.1:(\d+)/v1/decide")).Success, "the serve banner", TimeSpan.FromSeconds(30));
        var port = int.Parse(banner.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var tokenRun = await CliRun.RunAsync("token", "--agent", "bot", "--tenant", "acme", "--key", Path.Combine(state, "keys", "signing-key.pem"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokenRun.Out.Trim());

        Assert.Equal("allow", (await ServedPolicy.DecideAsync(http, "x")).Effect);

        File.WriteAllText(policyFile, ServedPolicy.Yaml.Replace("effect: allow", "effect: deny", StringComparison.Ordinal));
        await Eventually.TrueAsync(async () => (await ServedPolicy.DecideAsync(http, "x")).Effect == "deny", "the recompiled policy denying", TimeSpan.FromSeconds(30));

        await stop.CancelAsync();
        Assert.Equal(0, await serve);
        Assert.Contains("manifests changed; recompiling", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_BundleUrlMode_PollsSignedBundlesAndAnswers()
    {
        using var dir = new TempDirectory();
        dir.Write("manifests/p.yaml", ServedPolicy.Yaml);
        await CliRun.RunAsync("keys", "generate", "--out", Path.Combine(dir.Path, "keys"));
        var key = Path.Combine(dir.Path, "keys", "signing-key.pem");
        var compile = await CliRun.RunAsync("compile", Path.Combine(dir.Path, "manifests"), "--key", key, "--out", Path.Combine(dir.Path, "bundles"));
        Assert.True(compile.ExitCode == 0, compile.ToString());
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["/bundles/acme"] = File.ReadAllBytes(Path.Combine(dir.Path, "bundles", "acme.tar.gz")),
            ["/.well-known/jwks.json"] = File.ReadAllBytes(Path.Combine(dir.Path, "keys", "jwks.json")),
        };
        var (operatorStandIn, origin) = ServedPolicy.OperatorStandIn(files);
        using var standIn = operatorStandIn;
        var output = new StringWriter();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var serve = AegisCommand.RunAsync(["serve", "--bundle-url", origin + "/bundles/{tenant}", "--jwks-url", origin + "/.well-known/jwks.json", "--tenant", "acme", "--listen", "127.0.0.1", "--otlp-endpoint", "http://127.0.0.1:1", "--grpc-port", "0", "--http-port", "0"],
            TextWriter.Synchronized(output), TextWriter.Synchronized(new StringWriter()), stop.Token);

        Match banner = Match.Empty;
        await Eventually.TrueAsync(() => (banner = Regex.Match(output.ToString(), @"HTTP :(\d+), bundles from")).Success, "the serve banner", TimeSpan.FromSeconds(30));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{banner.Groups[1].Value}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await CliRun.RunAsync("token", "--agent", "bot", "--tenant", "acme", "--key", key)).Out.Trim());
        await Eventually.TrueAsync(async () => (await ServedPolicy.DecideAsync(http, "x")).Effect == "allow", "a decision from the polled bundle", TimeSpan.FromSeconds(30));

        await stop.CancelAsync();
        Assert.Equal(0, await serve);
    }

    [Fact]
    public async Task Serve_ConflictingOrIncompleteOptions_AreRefused()
    {
        var both = await CliRun.RunAsync("serve", "--manifests", ".", "--bundle-url", "http://127.0.0.1:1/bundles/{tenant}");
        var half = await CliRun.RunAsync("serve", "--bundle-url", "http://127.0.0.1:1/bundles/{tenant}");
        var otlp = await CliRun.RunAsync("serve", "--manifests", ".", "--otlp-endpoint", "localhost");

        Assert.Equal(2, both.ExitCode);
        Assert.Contains("exactly one of --manifests", both.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, half.ExitCode);
        Assert.Contains("--bundle-url needs --jwks-url", half.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, otlp.ExitCode);
        Assert.Contains("--otlp-endpoint: \"localhost\" is not an absolute URL", otlp.ToString(), StringComparison.Ordinal);
    }
}
