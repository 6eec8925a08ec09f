using System.Text;
using System.Text.Json.Nodes;
using Aegis.Decision.Audit.Archive;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Audit;
using Aegis.TestSupport.Storage;
using Amazon.Runtime;
using Amazon.S3;

namespace Aegis.Cli.Tests;

public class AuditCommandTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);

    /// <summary>An audit key from <c>aegis audit keygen</c> and two replicas' segments signed with it.</summary>
    private static async Task<(string Folder, string Jwks, AuditChainBuilder R1)> WriteLogsAsync(TempDirectory dir)
    {
        var keygen = await CliRun.RunAsync("audit", "keygen", "--out", Path.Combine(dir.Path, "keys"));
        Assert.True(keygen.ExitCode == 0, keygen.ToString());
        using var signer = LocalEd25519Signer.FromPem(File.ReadAllText(Path.Combine(dir.Path, "keys", "audit-key.pem")), KeyPurpose.Audit);
        var folder = Path.Combine(dir.Path, "audit");
        var r1 = await new AuditChainBuilder("decision-a", signer, T0).ClosedSegmentsAsync(2, 6);
        r1.Segment().Decisions(2);
        var r2 = await new AuditChainBuilder("decision-b", signer, T0).ClosedSegmentsAsync(1, 4);
        foreach (var source in r1.Sources().Concat(r2.Sources()))
        {
            dir.Write(Path.Combine("audit", source.Name), Encoding.UTF8.GetString(source.Content));
        }

        return (folder, Path.Combine(dir.Path, "keys", "audit-jwks.json"), r1);
    }

    [Fact]
    public async Task AuditKeygen_WritesAnOwnerOnlyKeyAndAJwksWithTheAuditPurpose()
    {
        using var dir = new TempDirectory();

        var run = await CliRun.RunAsync("audit", "keygen", "--out", dir.Path);
        var again = await CliRun.RunAsync("audit", "keygen", "--out", dir.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        var key = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "audit-jwks.json")))!["keys"]![0]!;
        Assert.Equal(("audit", "OKP", "Ed25519"), ((string)key["aegis_purpose"]!, (string)key["kty"]!, (string)key["crv"]!));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir.Path, "audit-key.pem")));
        }

        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists; pass --force", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditJwks_FromAKeyFile_PublishesItsPublicKeyForTheAuditPurpose()
    {
        using var dir = new TempDirectory();
        using var signer = LocalEd25519Signer.Generate(KeyPurpose.Audit);
        var pem = dir.Write("audit-key.pem", signer.ExportPem());

        var run = await CliRun.RunAsync("audit", "jwks", "--key", pem);
        var neither = await CliRun.RunAsync("audit", "jwks");

        Assert.True(run.ExitCode == 0, run.ToString());
        var key = JsonNode.Parse(run.Out)!["keys"]![0]!;
        Assert.Equal((signer.KeyId, signer.PublicJwk.X, "audit"), ((string)key["kid"]!, (string)key["x"]!, (string)key["aegis_purpose"]!));
        Assert.Equal(2, neither.ExitCode);
        Assert.Contains("give --key FILE, or --signer", neither.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditVerify_FolderOfTwoReplicas_ExitsZeroWithEachReplica()
    {
        using var dir = new TempDirectory();
        var (folder, jwks, _) = await WriteLogsAsync(dir);

        var run = await CliRun.RunAsync("audit", "verify", folder, "--jwks", jwks);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("replica decision-a: segments 1-3, 21 lines, 14 records, 4 signed checkpoint(s), signed through line 17; open (the last 4 line(s)", run.Out, StringComparison.Ordinal);
        Assert.Contains("replica decision-b: segments 1-1, 7 lines, 4 records, 2 signed checkpoint(s), signed through line 6; closed", run.Out, StringComparison.Ordinal);
        Assert.Contains("valid: 2 replica(s), 18 records", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditVerify_EditedRecord_ExitsOneNamingTheReplicaSegmentAndRecord()
    {
        using var dir = new TempDirectory();
        var (folder, jwks, _) = await WriteLogsAsync(dir);
        var path = Path.Combine(folder, "decision-a.00000002.jsonl");
        var lines = File.ReadAllLines(path);
        lines[2] = lines[2].Replace("allow", "deny", StringComparison.Ordinal);
        File.WriteAllLines(path, lines);

        var run = await CliRun.RunAsync("audit", "verify", folder, "--jwks", jwks);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"{path}: replica decision-a segment 2 record 12: edited: record 12's hash no longer matches the prev recorded by record 13 [audit_record_edited]", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditVerify_JwksWhoseKeyIsForBundles_IsRefused()
    {
        using var dir = new TempDirectory();
        var (folder, jwks, _) = await WriteLogsAsync(dir);
        var document = JsonNode.Parse(File.ReadAllText(jwks))!;
        document["keys"]![0]!["aegis_purpose"] = "bundle";
        File.WriteAllText(jwks, document.ToJsonString());

        var run = await CliRun.RunAsync("audit", "verify", folder, "--jwks", jwks);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("is published for purpose \"bundle\", not \"audit\"", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditVerify_Anchors_FindACutOffTail()
    {
        using var dir = new TempDirectory();
        var (folder, jwks, r1) = await WriteLogsAsync(dir);
        var anchors = dir.Write("siem.jsonl", r1.Segments[1][^1] + "\n");

        // Segments 2 and 3 removed; without the anchor the chain just ends at segment 1's closing checkpoint.
        File.Delete(Path.Combine(folder, "decision-a.00000002.jsonl"));
        File.Delete(Path.Combine(folder, "decision-a.00000003.jsonl"));
        var alone = await CliRun.RunAsync("audit", "verify", folder, "--jwks", jwks);
        var anchored = await CliRun.RunAsync("audit", "verify", folder, "--jwks", jwks, "--anchors", anchors);

        Assert.True(alone.ExitCode == 0, alone.ToString());
        Assert.Equal(1, anchored.ExitCode);
        Assert.Contains("replica decision-a segment 2 record 10: truncated: a checkpoint", anchored.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no-such-folder", "no such file or folder")]
    [InlineData("s3://Bad_Bucket/x", "is not a bucket name")]
    public async Task AuditVerify_BadSource_IsABadInputNamingIt(string source, string message)
    {
        using var dir = new TempDirectory();
        var (_, jwks, _) = await WriteLogsAsync(dir);

        var run = await CliRun.RunAsync("audit", "verify", source, "--jwks", jwks);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"{source}: ", run.Error, StringComparison.Ordinal);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditVerify_S3Bucket_FindsAMissingSegment()
    {
        using var dir = new TempDirectory();
        var (_, jwks, r1) = await WriteLogsAsync(dir);
        await using var s3 = await S3TestServer.StartAsync();
        s3.CreateBucket("acme-audit", versioned: true, objectLock: true);
        var archive = new S3AuditArchive(new AmazonS3Client(new BasicAWSCredentials(s3.AccessKey, s3.SecretKey), new AmazonS3Config { ServiceURL = s3.Url, ForcePathStyle = true, AuthenticationRegion = "eu-west-1" }),
            "acme-audit", "aegis/", ObjectLockMode.Compliance);
        var sources = r1.Sources();
        foreach (var i in new[] { 0, 2 })
        {
            await archive.PutOnceAsync(archive.KeyFor("decision-a", sources[i].Name), sources[i].Content, DateTimeOffset.UtcNow.AddDays(1), CancellationToken.None);
        }

        var environment = new Dictionary<string, string> { ["AWS_ACCESS_KEY_ID"] = s3.AccessKey, ["AWS_SECRET_ACCESS_KEY"] = s3.SecretKey, ["AWS_REGION"] = "eu-west-1" };
        var run = await CliProcess.RunAsync(["audit", "verify", "s3://acme-audit/aegis", "--jwks", jwks, "--s3-endpoint", s3.Url], environment);

        Assert.True(run.Exit == 1, run.Out + run.Error);
        Assert.Contains("s3://acme-audit/aegis/decision-a/decision-a.00000003.jsonl: replica decision-a segment 2 record 10: segment 2 is missing (removed); the chain jumps from segment 1 to 3 [audit_segment_missing]", run.Error, StringComparison.Ordinal);
    }
}
