using System.Text.RegularExpressions;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

public class KeysCommandTests
{
    [Fact]
    public async Task Generate_OnePurpose_ReplacesOnlyThatKeyAndKeepsTheOthersPublished()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, (await CliRun.RunAsync("keys", "generate", "--out", dir.Path)).ExitCode);
        var before = JsonWebKeySet.Parse(File.ReadAllText(Path.Combine(dir.Path, "jwks.json")));

        var refused = await CliRun.RunAsync("keys", "generate", "--out", dir.Path, "--purpose", "token");
        var replaced = await CliRun.RunAsync("keys", "generate", "--out", dir.Path, "--purpose", "token", "--force");
        var receipt = await CliRun.RunAsync("keys", "generate", "--out", dir.Path, "--purpose", "receipt");

        Assert.Equal(1, refused.ExitCode);
        Assert.True(replaced.ExitCode == 0, replaced.ToString());
        Assert.True(receipt.ExitCode == 0, receipt.ToString());
        var after = JsonWebKeySet.Parse(File.ReadAllText(Path.Combine(dir.Path, "jwks.json")));
        Assert.Equal(["bundle", "token", "audit", "receipt"], after.Keys.Select(k => k.Purpose!));
        Assert.Equal(before.For(KeyPurpose.Bundle).Keys.Single().Kid, after.For(KeyPurpose.Bundle).Keys.Single().Kid);
        Assert.NotEqual(before.For(KeyPurpose.Token).Keys.Single().Kid, after.For(KeyPurpose.Token).Keys.Single().Kid);
        Assert.Equal(2, (await CliRun.RunAsync("keys", "generate", "--out", dir.Path, "--purpose", "everything")).ExitCode);
    }

    [Fact]
    public async Task Compile_WithTheTokenKey_ProducesABundleNoVerifierAccepts()
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);
        dir.Write("p.yaml", PolicyFixtures.Policy("p", "acme", "- { name: r, match: { tools: [x] }, effect: allow }"));

        await CliRun.RunAsync("compile", Path.Combine(dir.Path, "p.yaml"), "--key", Path.Combine(dir.Path, "token-key.pem"), "--out", dir.Path);
        var verify = await CliRun.RunAsync("verify", Path.Combine(dir.Path, "acme.tar.gz"), "--jwks", Path.Combine(dir.Path, "jwks.json"));

        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("bundle_key_purpose_mismatch", verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_StateFromASingleKeyVersion_KeepsItAsTheBundleKeyAndGivesTokensAndAuditKeysOfTheirOwn()
    {
        using var dir = new TempDirectory();
        var state = Path.Combine(dir.Path, "state");
        var keys = Directory.CreateDirectory(Path.Combine(state, "keys")).FullName;
        using var legacy = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        File.WriteAllText(Path.Combine(keys, "signing-key.pem"), legacy.ExportPem());
        dir.Write("manifests/p.yaml", PolicyFixtures.Policy("p", "acme", "- { name: r, match: { tools: [x] }, effect: allow }"));
        var output = new StringWriter();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var serve = AegisCommand.RunAsync(["serve", "--manifests", Path.Combine(dir.Path, "manifests"), "--state-dir", state, "--grpc-port", "0", "--http-port", "0"],
            TextWriter.Synchronized(output), TextWriter.Synchronized(new StringWriter()), stop.Token);

        await Eventually.TrueAsync(() => Regex.IsMatch(output.ToString(), @"JSON API\s+http://"), "the serve banner", TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        Assert.Equal(0, await serve);

        var jwks = JsonWebKeySet.Parse(File.ReadAllText(Path.Combine(keys, "jwks.json")));
        Assert.Equal(legacy.KeyId, jwks.For(KeyPurpose.Bundle).Keys.Single().Kid);
        Assert.NotEqual(legacy.KeyId, jwks.For(KeyPurpose.Token).Keys.Single().Kid);
        Assert.NotEqual(legacy.KeyId, jwks.For(KeyPurpose.Audit).Keys.Single().Kid);
        Assert.False(File.Exists(Path.Combine(keys, "signing-key.pem")));
        Assert.Contains("migrated", output.ToString(), StringComparison.Ordinal);
        var admin = Path.Combine(state, "admin-token");
        Assert.True(File.ReadAllText(admin).Trim().Length >= 32);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(admin));
        }
    }
}
