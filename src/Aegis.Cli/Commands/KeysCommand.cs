using System.CommandLine;
using Aegis.Policy.Signing;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis keys generate --out DIR</c>: a new Ed25519 key and its JWKS.</summary>
internal static class KeysCommand
{
    /// <summary>File name of the private key inside the output folder.</summary>
    public const string PrivateKeyFile = "signing-key.pem";

    /// <summary>File name of the public JWKS inside the output folder.</summary>
    public const string JwksFile = "jwks.json";

    public static Command Create(CliConsole console)
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder for signing-key.pem (mode 0600) and jwks.json", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace an existing key (tokens and bundles it signed stop verifying)" };
        var generate = new Command("generate", "Generate an Ed25519 signing key (PKCS#8 PEM) and its JWKS (OKP/Ed25519)") { output, force };
        generate.SetAction(parse =>
        {
            var dir = parse.GetValue(output)!;
            var keyPath = Path.Combine(dir.FullName, PrivateKeyFile);
            if (File.Exists(keyPath) && !parse.GetValue(force))
            {
                console.Error.WriteLine($"{keyPath}: already exists; pass --force to replace it");
                return 1;
            }

            dir.Create();
            using var signer = LocalEd25519Signer.Generate();
            WriteKeyPair(signer, dir.FullName);
            console.Out.WriteLine($"kid\t{signer.KeyId}");
            console.Out.WriteLine($"key\t{keyPath}");
            console.Out.WriteLine($"jwks\t{Path.Combine(dir.FullName, JwksFile)}");
            return 0;
        });
        return new Command("keys", "Manage signing keys and organisation keys") { generate, OrgKeyCommand.Create(console) };
    }

    /// <summary>Writes signing-key.pem (owner-only) and jwks.json into <paramref name="dir"/>.</summary>
    public static void WriteKeyPair(LocalEd25519Signer signer, string dir)
    {
        WritePrivate(Path.Combine(dir, PrivateKeyFile), signer.ExportPem());
        File.WriteAllText(Path.Combine(dir, JwksFile), new JsonWebKeySet([signer.PublicJwk]).ToJson() + "\n");
    }

    private static void WritePrivate(string path, string pem)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(pem);
    }
}
