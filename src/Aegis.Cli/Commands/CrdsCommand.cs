using System.CommandLine;
using Aegis.Policy.Resources;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis crds --out DIR</c>: write the CustomResourceDefinitions generated from the model.</summary>
internal static class CrdsCommand
{
    public static Command Create(CliConsole console)
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder for the CRD files (crds/ in the repository)", Required = true };
        var command = new Command("crds", "Generate the CustomResourceDefinitions of the Aegis kinds") { output };
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(output)!;
            dir.Create();
            foreach (var (fileName, yaml) in CrdGenerator.GenerateAll())
            {
                var path = Path.Combine(dir.FullName, fileName);
                File.WriteAllText(path, yaml);
                console.Out.WriteLine(path);
            }

            return 0;
        });
        return command;
    }
}
