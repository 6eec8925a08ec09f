using System.CommandLine;
using Aegis.Policy.Audit;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis audit verify FILE --jwks J</c>: find the first edited, removed or reordered record.</summary>
internal static class AuditCommand
{
    public static Command Create(CliConsole console)
    {
        var file = new Argument<FileInfo>("file") { Description = "An audit log written by the decision server" };
        var jwks = new Option<FileInfo>("--jwks") { Description = "JWKS with the keys checkpoints are signed with", Required = true };
        var verify = new Command("verify", "Check the hash chain and checkpoint signatures; exit 1 naming the first bad record") { file, jwks };
        verify.SetAction(parse =>
        {
            var keys = KeyFiles.LoadJwks(parse.GetValue(jwks)!, console);
            var log = parse.GetValue(file)!;
            if (keys is null)
            {
                return AegisCommand.BadInput;
            }

            if (!log.Exists)
            {
                console.Error.WriteLine($"{log.FullName}: no such file");
                return AegisCommand.BadInput;
            }

            var result = AuditChain.Verify(File.ReadLines(log.FullName), keys);
            if (!result.Valid)
            {
                console.Error.WriteLine($"{log.FullName}:{result.Line}: record {result.Record}: {result.Reason}");
                return 1;
            }

            var unsigned = result.Records - result.SignedThrough;
            console.Out.WriteLine($"{log.FullName}: valid; {result.Records} records, {result.Checkpoints} signed checkpoint(s), signed through record {result.SignedThrough}"
                + (unsigned > 0 ? $"; the last {unsigned} record(s) are chained but not yet under a checkpoint signature" : ""));
            return 0;
        });
        return new Command("audit", "Work with decision audit logs") { verify };
    }
}
