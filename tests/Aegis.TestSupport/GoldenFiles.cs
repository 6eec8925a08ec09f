using Xunit;

namespace Aegis.TestSupport;

/// <summary>
/// Golden-file comparison: the test fails on any difference from the checked-in file. With
/// <c>AEGIS_UPDATE_GOLDEN=1</c> the file is (re)written instead, for review in the diff.
/// </summary>
public static class GoldenFiles
{
    public const string UpdateVariable = "AEGIS_UPDATE_GOLDEN";

    public static bool Updating => Environment.GetEnvironmentVariable(UpdateVariable) == "1";

    /// <summary>Compares <paramref name="actual"/> with the golden file at <paramref name="path"/> (relative to the repository).</summary>
    public static void Match(string path, string actual)
    {
        var full = Path.Combine(RepositoryPaths.Root, path);
        if (Updating)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, actual);
            return;
        }

        Assert.True(File.Exists(full), $"golden file {path} is missing; run the tests with {UpdateVariable}=1 to create it, then review it");
        var expected = File.ReadAllText(full).ReplaceLineEndings("\n");
        if (expected == actual)
        {
            return;
        }

        var expectedLines = expected.Split('\n');
        var actualLines = actual.Split('\n');
        var line = Enumerable.Range(0, Math.Max(expectedLines.Length, actualLines.Length))
            .First(i => i >= expectedLines.Length || i >= actualLines.Length || expectedLines[i] != actualLines[i]);
        Assert.Fail($"{path} differs at line {line + 1}:\n  expected: {(line < expectedLines.Length ? expectedLines[line] : "<end of file>")}\n  actual:   {(line < actualLines.Length ? actualLines[line] : "<end of file>")}\n" +
            $"If the change is intended, run the tests with {UpdateVariable}=1 and review the diff.");
    }
}
