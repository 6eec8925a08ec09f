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

        var run = await CliRun.RunAsync("token", "--agent", "bot-1", "--tenant", "acme", "--scope", "pay", "--ttl", "5m", "--key", Path.Combine(dir.Path, "token-key.pem"));

        Assert.True(run.ExitCode == 0, run.ToString());
        var jwks = JsonWebKeySet.Parse(File.ReadAllText(Path.Combine(dir.Path, "jwks.json")));
        var check = AgentTokens.Verify(run.Out.Trim(), jwks, DateTimeOffset.UtcNow, new TokenExpectations { Issuer = AgentTokens.DevelopmentIssuer, Audience = AgentTokens.DefaultAudience });
        Assert.Equal(("bot-1", "acme"), (check.Token!.AgentId, check.Token.Tenant));
        Assert.Equal(["pay"], check.Token.Scopes);
        Assert.Equal(2, (await CliRun.RunAsync("token", "--agent", "a", "--tenant", "t", "--ttl", "1h", "--key", Path.Combine(dir.Path, "token-key.pem"))).ExitCode);
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
        var tokenRun = await CliRun.RunAsync("token", "--agent", "bot", "--tenant", "acme", "--key", Path.Combine(state, "keys", "token-key.pem"));
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
        var key = Path.Combine(dir.Path, "keys", "bundle-key.pem");
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
        await CliRun.RunAsync("audit", "keygen", "--out", Path.Combine(dir.Path, "audit-keys"));
        var auditDir = Path.Combine(dir.Path, "audit");
        var serve = AegisCommand.RunAsync(["serve", "--bundle-url", origin + "/bundles/{tenant}", "--jwks-url", origin + "/.well-known/jwks.json", "--tenant", "acme", "--listen", "127.0.0.1", "--otlp-endpoint", "http://127.0.0.1:1", "--grpc-port", "0", "--http-port", "0",
            "--audit-dir", auditDir, "--audit-key", Path.Combine(dir.Path, "audit-keys", "audit-key.pem"), "--replica-id", "decision-7d4f9-x2x9q"],
            TextWriter.Synchronized(output), TextWriter.Synchronized(new StringWriter()), stop.Token);

        Match banner = Match.Empty;
        await Eventually.TrueAsync(() => (banner = Regex.Match(output.ToString(), @"HTTP :(\d+), bundles from")).Success, "the serve banner", TimeSpan.FromSeconds(30));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{banner.Groups[1].Value}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await CliRun.RunAsync("token", "--agent", "bot", "--tenant", "acme", "--issuer", "aegis-operator", "--key", Path.Combine(dir.Path, "keys", "token-key.pem"))).Out.Trim());
        await Eventually.TrueAsync(async () => (await ServedPolicy.DecideAsync(http, "x")).Effect == "allow", "a decision from the polled bundle", TimeSpan.FromSeconds(30));

        await stop.CancelAsync();
        Assert.Equal(0, await serve);

        // Cluster mode keeps its own chain too, named after the replica, closed at shutdown.
        Assert.Contains($"audit {auditDir} as replica decision-7d4f9-x2x9q", output.ToString(), StringComparison.Ordinal);
        var verify = await CliRun.RunAsync("audit", "verify", auditDir, "--jwks", Path.Combine(dir.Path, "audit-keys", "audit-jwks.json"));
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Matches(@"replica decision-7d4f9-x2x9q: segments 1-1, \d+ lines, [1-9]\d* records, .*; closed", verify.Out);
    }

    [Fact]
    public async Task Serve_ConflictingOrIncompleteOptions_AreRefused()
    {
        var both = await CliRun.RunAsync("serve", "--manifests", ".", "--bundle-url", "http://127.0.0.1:1/bundles/{tenant}");
        var half = await CliRun.RunAsync("serve", "--bundle-url", "http://127.0.0.1:1/bundles/{tenant}");
        var otlp = await CliRun.RunAsync("serve", "--manifests", ".", "--otlp-endpoint", "localhost");
        var cluster = new[] { "serve", "--bundle-url", "http://127.0.0.1:1/bundles/{tenant}", "--jwks-url", "http://127.0.0.1:1/jwks", "--tenant", "acme" };
        var noAuditDir = await CliRun.RunAsync(cluster);
        var noAuditKey = await CliRun.RunAsync([.. cluster, "--audit-dir", "/tmp/x"]);
        var kmsWithoutKey = await CliRun.RunAsync([.. cluster, "--audit-dir", "/tmp/x", "--audit-signer", "aws-kms"]);
        var badReplica = await CliRun.RunAsync([.. cluster, "--audit-dir", "/tmp/x", "--audit-key", "k.pem", "--replica-id", "../pod"]);
        var badArchive = await CliRun.RunAsync([.. cluster, "--audit-dir", "/tmp/x", "--audit-key", "k.pem", "--audit-archive", "ftp://bucket"]);
        var standaloneNoAudit = await CliRun.RunAsync("serve", "--manifests", ".", "--no-audit");
        using var dir = new TempDirectory();
        var aFile = dir.Write("not-a-folder", "");
        var unwritable = await CliRun.RunAsync([.. cluster, "--audit-dir", Path.Combine(aFile, "audit"), "--audit-key", "k.pem"]);
        var missingKey = await CliRun.RunAsync([.. cluster, "--audit-dir", Path.Combine(dir.Path, "audit"), "--audit-key", Path.Combine(dir.Path, "no-such-key.pem")]);

        Assert.Equal(2, both.ExitCode);
        Assert.Contains("exactly one of --manifests", both.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, half.ExitCode);
        Assert.Contains("--bundle-url needs --jwks-url", half.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, otlp.ExitCode);
        Assert.Contains("--otlp-endpoint: \"localhost\" is not an absolute URL", otlp.ToString(), StringComparison.Ordinal);
        foreach (var (run, message) in new[]
        {
            (noAuditDir, "--audit-dir: required with --bundle-url (or --no-audit)"),
            (noAuditKey, "--audit-key: required with --bundle-url and --audit-signer local"),
            (kmsWithoutKey, "--audit-kms-key: required with --audit-signer aws-kms"),
            (badReplica, "--replica-id: \"../pod\" is not a replica id"),
            (badArchive, "--audit-archive: \"ftp://bucket\" is not an s3://bucket/prefix or gs://bucket/prefix address"),
            (standaloneNoAudit, "--no-audit: only with --bundle-url"),
            (unwritable, "audit: "),
            (missingKey, "no-such-key.pem"),
        })
        {
            Assert.Equal(2, run.ExitCode);
            Assert.Contains(message, run.ToString(), StringComparison.Ordinal);
        }
    }
}
