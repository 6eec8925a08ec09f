namespace Aegis.TestSupport;

/// <summary>Locates the repository (the folder holding Aegis.Operator.sln) from a test's output folder.</summary>
public static class RepositoryPaths
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Aegis.Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Aegis.Operator.sln not found above " + AppContext.BaseDirectory);
    });

    public static string Root => RootPath.Value;

    public static string Samples => Path.Combine(Root, "samples");
}
