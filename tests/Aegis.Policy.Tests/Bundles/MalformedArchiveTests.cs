using Aegis.Policy.Bundles;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Bundles;

/// <summary>Bundle archives found by fuzzing (tests/Aegis.Fuzz) that once threw something other than the documented InvalidDataException.</summary>
public class MalformedArchiveTests
{
    [Fact]
    public void Unpack_TarWithASparseEntry_IsInvalidData()
    {
        var archive = File.ReadAllBytes(Path.Combine(RepositoryPaths.Root, "tests", "Aegis.Fuzz", "regressions", "bundle", "sparse-tar-entry"));

        var error = Assert.Throws<InvalidDataException>(() => BundleArchive.Unpack(archive));

        Assert.StartsWith("not a gzipped tar bundle", error.Message, StringComparison.Ordinal);
    }
}
