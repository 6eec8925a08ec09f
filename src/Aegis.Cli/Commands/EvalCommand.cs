using System.CommandLine;
using System.Text.Json;
using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Loading;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis eval --policies PATH... --input INPUT.json</c>: print the decision as JSON.</summary>
internal static class EvalCommand
{
    public static Command Create(CliConsole console)
    {
        var policies = new Option<string[]>("--policies") { Description = "Policy files or folders", Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var input = new Option<FileInfo>("--input") { Description = "Decision input as JSON ('-' reads standard input)", Required = true };
        var command = new Command("eval", "Evaluate one decision input against policies; exit 0 for any decision, 2 for bad input") { policies, input };
        command.SetAction(parse =>
        {
            var inputFile = parse.GetValue(input)!;
            string text;
            try
            {
                text = inputFile.Name == "-" ? Console.In.ReadToEnd() : File.ReadAllText(inputFile.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                console.Error.WriteLine($"{inputFile.FullName}: {e.Message}");
                return AegisCommand.BadInput;
            }

            DecisionInput decisionInput;
            try
            {
                using var doc = JsonDocument.Parse(text);
                if (!DecisionInput.TryParse(doc.RootElement, out decisionInput, out var error))
                {
                    console.Error.WriteLine($"{inputFile.FullName}: {error}");
                    return AegisCommand.BadInput;
                }
            }
            catch (JsonException e)
            {
                console.Error.WriteLine($"{inputFile.FullName}: not valid JSON: {e.Message}");
                return AegisCommand.BadInput;
            }

            var load = ManifestLoader.LoadPaths(parse.GetValue(policies)!);
            if (!load.Succeeded)
            {
                ValidateCommand.PrintErrors(load, console);
                return AegisCommand.BadInput;
            }

            var set = PolicySet.From(BundleCompiler.Compile(decisionInput.Tenant, load.Objects));
            console.Out.WriteLine(DecisionJson.ToJson(DecisionEngine.Decide(set, decisionInput)));
            return 0;
        });
        return command;
    }
}
