using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>The flags of the sidecar's transport and timeouts: bad values exit 2 naming the flag, before anything starts.</summary>
public class SidecarFlagsTests
{
    public static TheoryData<string[], string> OperatorProblems => new()
    {
        { ["--decision-timeout-ms", "3600001"], "--decision-timeout-ms: 3600001 is out of range: Envoy accepts 1 to 3600000 ms" },
        { ["--decision-timeout-ms", "0"], "--decision-timeout-ms: 0 is out of range" },
        { ["--max-request-body-bytes", "2000000"], "--max-request-body-bytes: 2000000 is out of range: 1 to 1048576" },
        { ["--decision-address", "decision.elsewhere.svc:9191"], "--decision-address: host \"decision.elsewhere.svc\" is not a name of the decision certificate" },
        { ["--decision-service", "other", "--decision-address", "aegis-decision.aegis-system.svc:9191"], "set --decision-service to the Service it names" },
    };

    [Theory]
    [MemberData(nameof(OperatorProblems))]
    public async Task Operator_BadSidecarFlag_ExitsTwoNamingIt(string[] flags, string expected)
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);

        var run = await CliRun.RunAsync(["operator", "--key", Path.Combine(dir.Path, "signing-key.pem"), .. flags]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(expected, run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_TlsCertWithoutKey_ExitsTwo()
    {
        using var dir = new TempDirectory();
        var cert = dir.Write("tls.crt", "x");

        var run = await CliRun.RunAsync("serve", "--manifests", dir.Path, "--tls-cert", cert);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--tls-cert and --tls-key go together", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_TlsKeyMissing_ExitsTwoNamingTheFile()
    {
        using var dir = new TempDirectory();
        var cert = dir.Write("tls.crt", "x");

        var run = await CliRun.RunAsync("serve", "--manifests", dir.Path, "--tls-cert", cert, "--tls-key", Path.Combine(dir.Path, "missing.key"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--tls-key " + Path.Combine(dir.Path, "missing.key") + ": no such file", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_TlsPairThatIsNotACertificate_ExitsTwoNamingTheFile()
    {
        using var dir = new TempDirectory();
        var cert = dir.Write("tls.crt", "not a certificate");
        var key = dir.Write("tls.key", "not a key");
        Directory.CreateDirectory(Path.Combine(dir.Path, "manifests"));

        var run = await CliRun.RunAsync("serve", "--manifests", Path.Combine(dir.Path, "manifests"), "--state-dir", Path.Combine(dir.Path, "state"),
            "--grpc-port", "0", "--http-port", "0", "--tls-cert", cert, "--tls-key", key);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"TLS certificate {cert} / key {key}: not a PEM certificate and its private key", run.Error, StringComparison.Ordinal);
    }
}
