using System.CommandLine;
using Aegis.Policy.Resources;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis crds --out DIR [--markdown FILE]</c>: write the CustomResourceDefinitions generated from the model, and their reference.</summary>
internal static class CrdsCommand
{
    public static Command Create(CliConsole console)
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder for the CRD files (crds/ in the repository)", Required = true };
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Also write the field reference rendered from them (docs/crds.md in the repository)" };
        var command = new Command("crds", "Generate the CustomResourceDefinitions of the Aegis kinds") { output, markdown };
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

            if (parse.GetValue(markdown) is { } reference)
            {
                File.WriteAllText(reference.FullName, CrdMarkdown.Render());
                console.Out.WriteLine(reference.FullName);
            }

            return 0;
        });
        return command;
    }
}
