using System.Diagnostics;
using System.Text.Json;
using Aegis.Operator.Sidecar;
using Aegis.Operator.Tests.Injection;
using Aegis.TestSupport;

namespace Aegis.Operator.Tests.Sidecar;

public class EnvoyBootstrapTests
{
    private const string GoldenFolder = "tests/Aegis.Operator.Tests/Golden";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>One golden file per case: the options and identity the bootstrap is generated from.</summary>
    private static readonly Dictionary<string, (SidecarOptions Options, SidecarIdentity Identity)> Cases = new()
    {
        ["envoy-default"] = (new SidecarOptions(), new SidecarIdentity("acme", "payments-bot")),
        ["envoy-custom"] = (new SidecarOptions
        {
            DecisionAddress = "decision.aegis-prod.svc.cluster.local:9000",
            DecisionTimeout = TimeSpan.FromMilliseconds(250),
            MaxRequestBodyBytes = 256 * 1024,
            ProcessingMessageTimeout = TimeSpan.FromSeconds(10),
            StreamIdleTimeout = TimeSpan.FromMinutes(2),
            ProxyPort = 16001,
            TransparentPort = 16002,
        }, new SidecarIdentity("globex", "support.triage-v2")),
    };

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    private static string Generate(string name) => JsonSerializer.Serialize(EnvoyBootstrap.Build(Cases[name].Options, Cases[name].Identity, WebhookHarness.DecisionCa), Indented) + "\n";

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Build_Case_MatchesItsGoldenFile(string name) => GoldenFiles.Match($"{GoldenFolder}/{name}.json", Generate(name));

    [Fact]
    public void GoldenFolder_HoldsExactlyTheCases()
    {
        var files = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, GoldenFolder), "envoy-*.json").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal);

        Assert.Equal(Cases.Keys.Order(StringComparer.Ordinal), files);
    }

    [Fact]
    public void Build_DecisionAddressWithoutPort_FailsNamingTheAddress()
    {
        var e = Assert.Throws<FormatException>(() => EnvoyBootstrap.Build(new SidecarOptions { DecisionAddress = "aegis-decision" }, new SidecarIdentity("acme", "a"), WebhookHarness.DecisionCa));

        Assert.Contains("decision address \"aegis-decision\" is not host:port", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Envoy itself checks every golden file: field names, types, and that the referenced clusters and extensions exist.</summary>
    [Fact]
    public async Task EnvoyValidate_EveryGoldenFile_IsAccepted()
    {
        var envoy = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "envoy")).FirstOrDefault(File.Exists);
        if (envoy is null)
        {
            Assert.Skip("envoy is not on PATH; this test runs `envoy --mode validate` on every golden file where Envoy is installed (see docs/sidecar.md)");
        }

        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryPaths.Root, GoldenFolder), "envoy-*.json"))
        {
            var start = new ProcessStartInfo(envoy) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "--mode", "validate", "-c", file, "--log-level", "error" })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.True(process.ExitCode == 0, $"envoy --mode validate rejected {Path.GetFileName(file)} (exit {process.ExitCode}):\n{output}\n{error}");
        }
    }
}
