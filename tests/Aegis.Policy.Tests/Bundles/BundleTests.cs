using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Aegis.Policy.Bundles;
using Aegis.Policy.Resources;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Bundles;

public class BundleTests
{
    private static readonly string Yaml =
        PolicyFixtures.Policy("b-policy", "acme", "- { name: r1, match: { tools: [\"a.*\"] }, effect: allow }")
        + PolicyFixtures.Policy("a-policy", "acme", "- { name: r2, match: { tools: [\"b\"] }, when: \"args.x > 1.0\", effect: deny }", ns: "z")
        + PolicyFixtures.Policy("other", "globex", "- { name: r, match: { tools: [\"*\"] }, effect: allow }")
        + """
          apiVersion: aegis.dev/v1alpha1
          kind: AgentBudget
          metadata: { name: budget, namespace: team }
          spec: { tenant: acme, daily: "20.00" }
          ---
          apiVersion: aegis.dev/v1alpha1
          kind: ToolServer
          metadata: { name: a, namespace: team }
          spec: { tenant: acme, protocol: mcp, url: "https://a.example.com/mcp", prices: [ { tools: ["a.*"], perCall: "0.01" } ] }
          ---
          apiVersion: aegis.dev/v1alpha1
          kind: TenantRegion
          metadata: { name: region, namespace: team }
          spec: { tenant: acme, allowedRegions: ["eu-west-1"] }
          """;

    private static List<AegisObject> Objects() => PolicyFixtures.LoadValid(Yaml).Objects;

    private static Task<byte[]> SignedAcmeAsync(IEnumerable<AegisObject>? objects = null, ISigner? signer = null) =>
        BundleArchive.SignAndPackAsync(BundleCompiler.Compile("acme", objects ?? Objects()), signer ?? TestKeys.Signer);

    [Fact]
    public async Task Compile_SameObjectsInAnyOrder_ByteIdenticalBundles()
    {
        var objects = Objects();
        var first = await SignedAcmeAsync(objects);
        for (var seed = 1; seed <= 5; seed++)
        {
            var shuffled = objects.OrderBy(_ => Random.Shared.Next()).ToList();
            Assert.Equal(first, await SignedAcmeAsync(shuffled));
        }
    }

    [Fact]
    public void Compile_DifferentContent_DifferentRevision()
    {
        var objects = Objects();
        var before = BundleCompiler.Compile("acme", objects).Revision;
        objects.OfType<AgentBudget>().Single().Spec.Daily = "21.00";
        var after = BundleCompiler.Compile("acme", objects).Revision;

        Assert.NotEqual(before, after);
        Assert.Matches("^[0-9a-f]{64}$", after);
    }

    [Fact]
    public async Task Pack_FixedMetadata_NoTimestampsOrOwners()
    {
        var archive = await SignedAcmeAsync();

        Assert.Equal([0, 0, 0, 0], archive[4..8]);
        using var reader = new TarReader(new GZipStream(new MemoryStream(archive), CompressionMode.Decompress));
        var names = new List<string>();
        while (reader.GetNextEntry() is { } entry)
        {
            names.Add(entry.Name);
            Assert.Equal(DateTimeOffset.UnixEpoch, entry.ModificationTime);
            Assert.Equal(0, entry.Uid);
            Assert.Equal(0, entry.Gid);
            Assert.Equal(TarEntryType.RegularFile, entry.EntryType);
        }

        Assert.Equal([".manifest", "data.json", ".signatures.json"], names);
    }

    [Fact]
    public async Task Verify_GoodBundle_ReturnsTenantRevisionAndDocument()
    {
        var content = BundleCompiler.Compile("acme", Objects());
        var archive = await BundleArchive.SignAndPackAsync(content, TestKeys.Signer);

        var result = new BundleVerifier(TestKeys.Jwks).Verify(archive, "acme");

        Assert.True(result.IsValid, result.Message);
        Assert.Equal("acme", result.Bundle!.Tenant);
        Assert.Equal(content.Revision, result.Bundle.Revision);
        Assert.Equal(TestKeys.Signer.KeyId, result.Bundle.KeyId);
        Assert.Equal(["team/budget", "default/b-policy", "z/a-policy", "team/region", "team/a"], result.Bundle.Manifest.Metadata.Sources.Select(s => s.Id));
        Assert.Equal(["default/b-policy", "z/a-policy"], result.Bundle.Data.Policies.Select(p => p.Id));
        Assert.Equal("args.x > 1.0", result.Bundle.Data.Policies[1].Rules[0].When);
    }

    [Fact]
    public async Task Verify_DataReformattedButEqualJson_StillVerifies()
    {
        // OPA hashes JSON files over their canonical form, so whitespace and key order do not matter.
        var files = BundleArchive.Unpack(await SignedAcmeAsync());
        using var doc = System.Text.Json.JsonDocument.Parse(files["data.json"]);
        files["data.json"] = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(doc.RootElement, new System.Text.Json.JsonSerializerOptions { WriteIndented = true });

        Assert.True(new BundleVerifier(TestKeys.Jwks).Verify(BundleArchive.Pack(files)).IsValid);
    }

    public static TheoryData<string, string> TamperingCases() => new()
    {
        { "remove .signatures.json", BundleRejection.NoSignature },
        { "empty signature list", BundleRejection.NoSignature },
        { "signed by a key not in the JWKS", BundleRejection.UnknownKid },
        { "signature bytes flipped", BundleRejection.SignatureInvalid },
        { "header alg changed to HS256", BundleRejection.SignatureInvalid },
        { "data.json edited", BundleRejection.FileHashMismatch },
        { ".manifest edited", BundleRejection.FileHashMismatch },
        { "unlisted file added", BundleRejection.FileNotSigned },
        { "listed file removed", BundleRejection.FileMissing },
        { "manifest tenant differs from data tenant", BundleRejection.TenantMismatch },
        { "revision does not match content", BundleRejection.RevisionMismatch },
        { "not a gzip at all", BundleRejection.Malformed },
        { "truncated archive", BundleRejection.Malformed },
    };

    [Theory]
    [MemberData(nameof(TamperingCases))]
    public async Task Verify_TamperedBundle_IsRefusedWithNamedReason(string tampering, string reason)
    {
        var archive = await TamperAsync(tampering);

        var result = new BundleVerifier(TestKeys.Jwks).Verify(archive);

        Assert.False(result.IsValid, tampering);
        Assert.Equal(reason, result.Reason);
        Assert.False(string.IsNullOrEmpty(result.Message));
    }

    [Fact]
    public async Task Verify_ExpectedTenantDiffers_IsRefused()
    {
        var result = new BundleVerifier(TestKeys.Jwks).Verify(await SignedAcmeAsync(), "globex");
        Assert.Equal(BundleRejection.TenantMismatch, result.Reason);
    }

    private static async Task<byte[]> TamperAsync(string tampering)
    {
        var good = await SignedAcmeAsync();
        var files = BundleArchive.Unpack(good);
        var jws = ReadJws(files);
        switch (tampering)
        {
            case "remove .signatures.json":
                files.Remove(BundleLayout.Signatures);
                break;
            case "empty signature list":
                files[BundleLayout.Signatures] = """{"signatures":[]}"""u8.ToArray();
                break;
            case "signed by a key not in the JWKS":
                return await SignedAcmeAsync(signer: TestKeys.Stranger);
            case "signature bytes flipped":
                var parts = jws.Split('.');
                Assert.True(Base64Url.TryDecode(parts[2], out var sig));
                sig[0] ^= 0xFF;
                WriteJws(files, $"{parts[0]}.{parts[1]}.{Base64Url.Encode(sig)}");
                break;
            case "header alg changed to HS256":
                var p = jws.Split('.');
                var header = Base64Url.Encode(Encoding.UTF8.GetBytes($$"""{"alg":"HS256","kid":"{{TestKeys.Signer.KeyId}}"}"""));
                WriteJws(files, $"{header}.{p[1]}.{p[2]}");
                break;
            case "data.json edited":
                files[BundleLayout.Data] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(files[BundleLayout.Data]).Replace("\"deny\"", "\"allow\"", StringComparison.Ordinal));
                break;
            case ".manifest edited":
                files[BundleLayout.Manifest] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(files[BundleLayout.Manifest]).Replace("acme", "acmf", StringComparison.Ordinal));
                break;
            case "unlisted file added":
                files["policy.rego"] = "package x\nallow := true\n"u8.ToArray();
                break;
            case "listed file removed":
                files.Remove(BundleLayout.Data);
                break;
            case "manifest tenant differs from data tenant":
                return await ResignAsync(files, manifest => manifest.Replace("\"tenant\":\"acme\"", "\"tenant\":\"globex\"", StringComparison.Ordinal));
            case "revision does not match content":
                return await ResignAsync(files, manifest => System.Text.RegularExpressions.Regex.Replace(manifest, "\"revision\":\"[0-9a-f]+\"", "\"revision\":\"" + new string('0', 64) + "\""));
            case "not a gzip at all":
                return "plain text"u8.ToArray();
            case "truncated archive":
                return good[..(good.Length / 2)];
        }

        return BundleArchive.Pack(files);
    }

    private static async Task<byte[]> ResignAsync(Dictionary<string, byte[]> files, Func<string, string> editManifest)
    {
        files[BundleLayout.Manifest] = Encoding.UTF8.GetBytes(editManifest(Encoding.UTF8.GetString(files[BundleLayout.Manifest])));
        files.Remove(BundleLayout.Signatures);
        var ordered = files.ToList();
        ordered.Add(new(BundleLayout.Signatures, await BundleArchive.SignFilesAsync(files, TestKeys.Signer)));
        return BundleArchive.Pack(ordered);
    }

    private static string ReadJws(Dictionary<string, byte[]> files)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(files[BundleLayout.Signatures]);
        return doc.RootElement.GetProperty("signatures")[0].GetString()!;
    }

    private static void WriteJws(Dictionary<string, byte[]> files, string jws) =>
        files[BundleLayout.Signatures] = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { signatures = new[] { jws } });
}
