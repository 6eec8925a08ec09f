using Aegis.TestSupport;

namespace Aegis.Fuzz.Tests;

/// <summary>
/// The CI side of fuzzing, without AFL: every seed of <c>tests/Aegis.Fuzz/corpus/TARGET/</c> and every crash found so
/// far (<c>regressions/TARGET/</c>) goes through the same target code as under afl-fuzz, and none may throw.
/// </summary>
public class CorpusReplayTests
{
    private static readonly string FuzzDir = Path.Combine(RepositoryPaths.Root, "tests", "Aegis.Fuzz");

    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Keys];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Replay_EverySeedAndRegression_EscapesNoException(string target)
    {
        var seeds = Files("corpus", target);
        var files = seeds.Concat(Files("regressions", target)).ToList();

        var crashes = files.Select(f => (File: Path.GetRelativePath(FuzzDir, f), Crash: FuzzTargets.All[target].Replay(File.ReadAllBytes(f))))
            .Where(r => r.Crash is not null)
            .Select(r => $"{r.File}: {r.Crash}")
            .ToList();

        Assert.NotEmpty(seeds);
        Assert.True(crashes.Count == 0, string.Join("\n\n", crashes));
    }

    [Fact]
    public void Folders_NameOnlyKnownTargets()
    {
        var folders = new[] { "corpus", "regressions" }
            .Where(d => Directory.Exists(Path.Combine(FuzzDir, d)))
            .SelectMany(d => Directory.EnumerateDirectories(Path.Combine(FuzzDir, d)))
            .Select(Path.GetFileName);

        Assert.All(folders, name => Assert.Contains(name!, FuzzTargets.All.Keys));
    }

    [Fact]
    public void Replay_AnInputThatThrows_IsReportedAsACrash()
    {
        var target = new FuzzTarget { Name = "t", Description = "throws on the letter x", Run = input => _ = input.Contains((byte)'x') ? throw new InvalidOperationException("boom") : 0 };

        Assert.Null(target.Replay("ok"u8.ToArray()));
        Assert.Contains("InvalidOperationException: boom", target.Replay("x"u8.ToArray()), StringComparison.Ordinal);
    }

    private static IEnumerable<string> Files(string kind, string target)
    {
        var dir = Path.Combine(FuzzDir, kind, target);
        return Directory.Exists(dir) ? Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal) : [];
    }
}
