using System.Text;
using System.Text.Json;
using Aegis.Contracts.Bundles;
using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Bundles;

/// <summary>
/// The bundle wire format, pinned: the canonical bundle's data.json and .manifest are golden files (regenerate with
/// AEGIS_UPDATE_GOLDEN=1 and review the diff); a schema version the reader does not know is refused by name.
/// </summary>
public class BundleFormatTests
{
    private const string Folder = "tests/Aegis.Policy.Tests/Bundles/Golden";
    private const long Sequence = 1_764_000_000_000;

    private static BundleContent Canonical()
    {
        var load = PolicyFixtures.LoadValid(File.ReadAllText(Path.Combine(RepositoryPaths.Root, Folder, "canonical.yaml")));
        return BundleCompiler.Compile("acme", load.Objects).WithSequence(Sequence);
    }

    private static string Pretty(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        return JsonSerializer.Serialize(document.RootElement, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    [Fact]
    public void Compile_CanonicalBundle_DataJsonMatchesTheGoldenFile() =>
        GoldenFiles.Match($"{Folder}/canonical.data.json", Pretty(Canonical().DataJson));

    [Fact]
    public void Compile_CanonicalBundle_ManifestMatchesTheGoldenFile() =>
        GoldenFiles.Match($"{Folder}/canonical.manifest.json", Pretty(Canonical().ManifestJson));

    [Fact]
    public void Compile_CanonicalBundle_CarriesNoCrdOnlyFields()
    {
        var data = Encoding.UTF8.GetString(Canonical().DataJson);

        // The CRD's shape (spec objects, tenant per object) is not the wire's.
        Assert.DoesNotContain("\"spec\"", data, StringComparison.Ordinal);
        Assert.DoesNotContain("toolPrefix", data, StringComparison.Ordinal);
        Assert.Contains("\"schemaVersion\":1", data, StringComparison.Ordinal);
    }

    [Fact]
    public void WithSequence_ChangesTheManifestButNotTheRevision()
    {
        var unsequenced = BundleCompiler.Compile("acme", PolicyFixtures.LoadValid(File.ReadAllText(Path.Combine(RepositoryPaths.Root, Folder, "canonical.yaml"))).Objects);
        var sequenced = unsequenced.WithSequence(Sequence);

        Assert.Equal(unsequenced.Revision, sequenced.Revision);
        Assert.NotEqual(unsequenced.ManifestJson, sequenced.ManifestJson);
        Assert.Equal(Sequence, JsonSerializer.Deserialize<BundleManifest>(sequenced.ManifestJson, BundleFormat.Json)!.Sequence);
    }

    [Fact]
    public async Task Verify_CanonicalBundle_LoadsIntoAPolicySetWithEveryKind()
    {
        var archive = await BundleArchive.SignAndPackAsync(Canonical(), TestKeys.Signer);

        var verified = new BundleVerifier(TestKeys.Jwks).Verify(archive, "acme");

        Assert.True(verified.IsValid, verified.Message);
        Assert.Equal(Sequence, verified.Bundle!.Sequence);
        var set = PolicySet.Load(verified.Bundle.Data, verified.Bundle.Revision);
        Assert.Equal((2, 2, 3), (set.Policies.Length, set.Budgets.Length, set.Tools.Servers.Length));
        Assert.Equal(["fin/ehr", "fin/openai", "fin/stripe"], set.Tools.Servers.Select(s => s.Id));
        Assert.Equal("stripe.transfer", set.Tools.ById("fin/stripe")!.Operations[0].Tool);
        Assert.NotNull(set.Region);
    }

    public static TheoryData<string, string> SchemaEdits => new()
    {
        { "manifest says 2", "manifest:2" },
        { "manifest names none", "manifest:none" },
        { "data disagrees with the manifest", "data:2" },
    };

    [Theory]
    [MemberData(nameof(SchemaEdits))]
    public async Task Verify_UnknownSchemaVersion_IsRefusedAsSchemaUnsupported(string what, string edit)
    {
        var content = Canonical();
        var manifest = Encoding.UTF8.GetString(content.ManifestJson);
        var data = Encoding.UTF8.GetString(content.DataJson);
        (manifest, data) = edit switch
        {
            "manifest:2" => (manifest.Replace("\"schemaVersion\":1", "\"schemaVersion\":2", StringComparison.Ordinal), data),
            "manifest:none" => (manifest.Replace(",\"schemaVersion\":1", "", StringComparison.Ordinal), data),
            _ => (manifest, data.Replace("\"schemaVersion\":1", "\"schemaVersion\":2", StringComparison.Ordinal)),
        };
        var files = new List<KeyValuePair<string, byte[]>> { new(BundleLayout.Manifest, Encoding.UTF8.GetBytes(manifest)), new(BundleLayout.Data, Encoding.UTF8.GetBytes(data)) };
        files.Add(new(BundleLayout.Signatures, await BundleArchive.SignFilesAsync(files, TestKeys.Signer)));

        var verified = new BundleVerifier(TestKeys.Jwks).Verify(BundleArchive.Pack(files), "acme");

        Assert.False(verified.IsValid, what);
        Assert.Equal(BundleRejection.SchemaUnsupported, verified.Reason);
    }

    [Fact]
    public void Unpack_GzipBomb_IsRefusedAsTooLargeBeforeItIsInflated()
    {
        // 200 MB of zeros in one tar entry gzips to a few hundred KB: well under the archive limit, far over the inflated one.
        using var compressed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var header = new byte[512];
            Encoding.ASCII.GetBytes("data.json").CopyTo(header, 0);
            Encoding.ASCII.GetBytes("0000644\0").CopyTo(header, 100);
            Encoding.ASCII.GetBytes(Convert.ToString(200_000_000L, 8).PadLeft(11, '0') + "\0").CopyTo(header, 124);
            Encoding.ASCII.GetBytes("00000000000\0").CopyTo(header, 136);
            header[156] = (byte)'0';
            "        "u8.CopyTo(header.AsSpan(148));
            var checksum = header.Sum(b => (int)b);
            Encoding.ASCII.GetBytes(Convert.ToString(checksum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
            gzip.Write(header);
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 200; i++)
            {
                gzip.Write(zeros);
            }
        }

        Assert.InRange(compressed.Length, 1, BundleLayout.MaxArchiveBytes);
        Assert.Throws<BundleSizeException>(() => BundleArchive.Unpack(compressed.ToArray()));
    }

    [Fact]
    public void Unpack_ArchiveOverTheLimit_IsRefusedUnread() =>
        Assert.Throws<BundleSizeException>(() => BundleArchive.Unpack(new byte[BundleLayout.MaxArchiveBytes + 1]));
}
