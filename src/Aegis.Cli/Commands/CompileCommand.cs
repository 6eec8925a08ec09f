using System.CommandLine;
using Aegis.Policy.Bundles;
using Aegis.Policy.Loading;
using Aegis.Policy.Signing;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis compile PATH... --key KEY.pem --out DIR</c>: one signed bundle per tenant.</summary>
internal static class CompileCommand
{
    public static Command Create(CliConsole console)
    {
        var paths = ValidateCommand.PathsArgument();
        var key = new Option<FileInfo>("--key") { Description = "The bundle key (PKCS#8 PEM), bundle-key.pem as written by 'aegis keys generate'", Required = true };
        var kid = new Option<string?>("--kid") { Description = "Key id to put in the signature (default: the key's JWK thumbprint)" };
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder to write <tenant>.tar.gz bundles into", Required = true };
        var command = new Command("compile", "Compile policies into one signed bundle per tenant") { paths, key, kid, output };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var signer = KeyFiles.LoadSigner(parse.GetValue(key)!, KeyPurpose.Bundle, parse.GetValue(kid), console);
            if (signer is null)
            {
                return AegisCommand.BadInput;
            }

            var load = ManifestLoader.LoadPaths(parse.GetValue(paths)!);
            ValidateCommand.PrintErrors(load, console);
            var outDir = parse.GetValue(output)!;
            outDir.Create();
            var refused = 0;
            foreach (var tenant in BundleCompiler.Tenants(load))
            {
                // A tenant with an invalid object gets no new bundle: a bad policy never replaces a good bundle.
                var bad = load.Rejected.Where(r => r.Tenant == tenant).ToList();
                if (bad.Count > 0)
                {
                    console.Error.WriteLine($"{tenant}: not compiled: {bad.Count} invalid object(s): {string.Join(", ", bad.Select(b => $"{b.Kind} {b.Id}"))}");
                    refused++;
                    continue;
                }

                // Sequenced by the time of compilation, so a decision server takes a later compile and refuses an earlier one.
                var content = BundleCompiler.Compile(tenant, load.Objects).WithSequence(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                var archive = await BundleArchive.SignAndPackAsync(content, signer, cancellationToken).ConfigureAwait(false);
                var file = Path.Combine(outDir.FullName, tenant + ".tar.gz");
                await AtomicFile.WriteAsync(file, archive, cancellationToken).ConfigureAwait(false);
                console.Out.WriteLine($"{tenant}\t{content.Revision}\t{file}");
            }

            return load.Succeeded && refused == 0 ? 0 : 1;
        });
        return command;
    }
}

/// <summary>Writes a file through a temporary name and a rename, so readers never see half a bundle.</summary>
internal static class AtomicFile
{
    public static async Task WriteAsync(string path, byte[] bytes, CancellationToken cancellationToken)
    {
        var temp = path + ".tmp-" + Environment.ProcessId;
        await File.WriteAllBytesAsync(temp, bytes, cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>Reads key and JWKS files, reporting problems in the user's terms.</summary>
internal static class KeyFiles
{
    /// <summary>
    /// The key in <paramref name="file"/>, to sign for <paramref name="purpose"/> (what the command uses it for: a PEM
    /// carries no purpose, the JWKS that verifiers read does).
    /// </summary>
    public static LocalEd25519Signer? LoadSigner(FileInfo file, KeyPurpose purpose, string? kid, CliConsole console)
    {
        try
        {
            return LocalEd25519Signer.FromPem(File.ReadAllText(file.FullName), purpose, kid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            console.Error.WriteLine($"{file.FullName}: {e.Message}");
            return null;
        }
    }

    public static JsonWebKeySet? LoadJwks(FileInfo file, CliConsole console)
    {
        try
        {
            return JsonWebKeySet.Parse(File.ReadAllText(file.FullName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            console.Error.WriteLine($"{file.FullName}: {e.Message}");
            return null;
        }
    }
}
