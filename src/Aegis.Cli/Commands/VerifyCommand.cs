using System.CommandLine;
using Aegis.Policy.Bundles;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis verify BUNDLE --jwks JWKS.json</c>: exit 0 when the bundle verifies, 1 with the reason otherwise.</summary>
internal static class VerifyCommand
{
    public static Command Create(CliConsole console)
    {
        var bundle = new Argument<FileInfo>("bundle") { Description = "A bundle (.tar.gz) written by 'aegis compile'" };
        var jwks = new Option<FileInfo>("--jwks") { Description = "JWKS with the public keys bundles may be signed with", Required = true };
        var tenant = new Option<string?>("--tenant") { Description = "Also require the bundle to be this tenant's" };
        var command = new Command("verify", "Verify a bundle's signature, file hashes, tenant and revision") { bundle, jwks, tenant };
        command.SetAction(parse =>
        {
            var keys = KeyFiles.LoadJwks(parse.GetValue(jwks)!, console);
            var file = parse.GetValue(bundle)!;
            if (keys is null)
            {
                return AegisCommand.BadInput;
            }

            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                console.Error.WriteLine($"{file.FullName}: {e.Message}");
                return AegisCommand.BadInput;
            }

            var result = new BundleVerifier(keys).Verify(bytes, parse.GetValue(tenant));
            if (!result.IsValid)
            {
                console.Error.WriteLine($"{file.FullName}: {result.Reason}: {result.Message}");
                return 1;
            }

            console.Out.WriteLine($"{file.FullName}: valid; tenant {result.Bundle!.Tenant}, revision {result.Bundle.Revision}, key {result.Bundle.KeyId}");
            return 0;
        });
        return command;
    }
}
