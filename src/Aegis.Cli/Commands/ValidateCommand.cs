using System.CommandLine;
using Aegis.Policy.Loading;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis validate PATH...</c>: load and check every object, print every error.</summary>
internal static class ValidateCommand
{
    public static Command Create(CliConsole console)
    {
        var paths = PathsArgument();
        var command = new Command("validate", "Load and check policy files and folders; print every error (exit 1 if any)") { paths };
        command.SetAction(parse =>
        {
            var load = ManifestLoader.LoadPaths(parse.GetValue(paths)!);
            PrintErrors(load, console);
            console.Out.WriteLine($"{load.Objects.Count} valid, {load.Rejected.Count} invalid, {load.Errors.Count} error(s), {load.Ignored} other document(s) ignored");
            return load.Succeeded ? 0 : 1;
        });
        return command;
    }

    public static Argument<string[]> PathsArgument() => new("paths")
    {
        Description = "YAML/JSON files or folders of Aegis objects (folders are read recursively; *_test.yaml is skipped)",
        Arity = ArgumentArity.OneOrMore,
    };

    public static void PrintErrors(LoadResult load, CliConsole console)
    {
        foreach (var error in load.Errors)
        {
            console.Error.WriteLine(error.ToString());
        }
    }
}
