using System.Text;
using System.Text.Json.Nodes;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

public class AuditCommandTests
{
    private static async Task<(string Log, string Jwks)> WriteLogAsync(TempDirectory dir)
    {
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);
        using var signer = LocalEd25519Signer.FromPem(File.ReadAllText(Path.Combine(dir.Path, "audit-key.pem")), KeyPurpose.Audit);
        var lines = new List<string>();
        var prev = AuditChain.Genesis;
        for (var seq = 1; seq <= 6; seq++)
        {
            var line = seq == 4
                ? await AuditChain.CheckpointAsync(seq, prev, DateTimeOffset.UnixEpoch, signer)
                : AuditChain.Line(seq, prev, new JsonObject { ["effect"] = "allow" });
            lines.Add(Encoding.UTF8.GetString(line));
            prev = AuditChain.Hash(line);
        }

        var log = Path.Combine(dir.Path, "audit.log");
        File.WriteAllLines(log, lines);
        return (log, Path.Combine(dir.Path, "jwks.json"));
    }

    [Fact]
    public async Task AuditVerify_IntactLog_ExitsZeroAndSaysWhatIsSigned()
    {
        using var dir = new TempDirectory();
        var (log, jwks) = await WriteLogAsync(dir);

        var run = await CliRun.RunAsync("audit", "verify", log, "--jwks", jwks);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("valid; 6 records, 1 signed checkpoint(s), signed through record 4; the last 2 record(s) are chained but not yet under a checkpoint signature", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditVerify_EditedRecord_ExitsOneNamingIt()
    {
        using var dir = new TempDirectory();
        var (log, jwks) = await WriteLogAsync(dir);
        var lines = File.ReadAllLines(log);
        lines[1] = lines[1].Replace("allow", "deny", StringComparison.Ordinal);
        File.WriteAllLines(log, lines);

        var run = await CliRun.RunAsync("audit", "verify", log, "--jwks", jwks);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("audit.log:2: record 2: edited", run.Error, StringComparison.Ordinal);
    }
}
