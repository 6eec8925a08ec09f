using System.CommandLine;
using Aegis.Cli.PolicyTests;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis test PATH...</c>: run <c>*_test.yaml</c> policy tests; ends with "N passed, M failed".</summary>
internal static class TestCommand
{
    public static Command Create(CliConsole console)
    {
        var paths = new Argument<string[]>("paths") { Description = "Test files or folders containing *_test.yaml", Arity = ArgumentArity.OneOrMore };
        var command = new Command("test", "Run table-driven policy tests (*_test.yaml); exit 1 if any case fails") { paths };
        command.SetAction(parse =>
        {
            var files = PolicyTestRunner.FindTestFiles(parse.GetValue(paths)!);
            if (files.Count == 0)
            {
                console.Error.WriteLine("no *_test.yaml files found");
                console.Out.WriteLine("0 passed, 0 failed");
                return 1;
            }

            var summary = new PolicyTestRunner(console).Run(files);
            console.Out.WriteLine($"{summary.Passed} passed, {summary.Failed} failed");
            return summary.Failed == 0 ? 0 : 1;
        });
        return command;
    }
}
