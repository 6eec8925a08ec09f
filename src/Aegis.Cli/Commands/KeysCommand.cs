using System.CommandLine;
using System.Security.Cryptography;
using Aegis.Policy.Signing;

namespace Aegis.Cli.Commands;

/// <summary>
/// <c>aegis keys generate --out DIR [--purpose P]</c>: one Ed25519 key per purpose (bundle, token, audit by default)
/// and a JWKS publishing each with its <c>aegis_purpose</c>.
/// </summary>
internal static class KeysCommand
{
    /// <summary>File name of the public JWKS inside a key folder.</summary>
    public const string JwksFile = "jwks.json";

    /// <summary>The single, purpose-less key of earlier versions; <see cref="LoadOrCreate"/> adopts it as the bundle key.</summary>
    public const string LegacyKeyFile = "signing-key.pem";

    /// <summary>The purposes a development key folder holds (receipt keys only on request: nothing signs receipts yet).</summary>
    public static readonly KeyPurpose[] DefaultPurposes = [KeyPurpose.Bundle, KeyPurpose.Token, KeyPurpose.Audit];

    /// <summary>The private key file of <paramref name="purpose"/>: <c>bundle-key.pem</c>, <c>token-key.pem</c>, ...</summary>
    public static string KeyFile(KeyPurpose purpose) => purpose.Name() + "-key.pem";

    public static Command Create(CliConsole console)
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder for <purpose>-key.pem (mode 0600) and jwks.json", Required = true };
        var purpose = new Option<string?>("--purpose") { Description = "Generate only this purpose's key (bundle, token, audit or receipt), keeping the others in jwks.json" };
        purpose.AcceptOnlyFromAmong([.. KeyPurposes.All.Select(p => p.Name())]);
        var force = new Option<bool>("--force") { Description = "Replace existing keys (what they signed stops verifying)" };
        var generate = new Command("generate", "Generate Ed25519 signing keys (PKCS#8 PEM), one per purpose, and their JWKS (OKP/Ed25519 with aegis_purpose)") { output, purpose, force };
        generate.SetAction(parse =>
        {
            var dir = parse.GetValue(output)!;
            KeyPurpose[] purposes = parse.GetValue(purpose) is { } one && KeyPurposes.TryParse(one, out var chosen) ? [chosen] : DefaultPurposes;
            if (!parse.GetValue(force) && purposes.Select(p => Path.Combine(dir.FullName, KeyFile(p))).FirstOrDefault(File.Exists) is { } existing)
            {
                console.Error.WriteLine($"{existing}: already exists; pass --force to replace it");
                return 1;
            }

            dir.Create();
            foreach (var p in purposes)
            {
                using var signer = LocalEd25519Signer.Generate(p);
                WritePrivate(Path.Combine(dir.FullName, KeyFile(p)), signer.ExportPem());
                console.Out.WriteLine($"{p.Name()}\t{signer.KeyId}\t{Path.Combine(dir.FullName, KeyFile(p))}");
            }

            if (!TryWriteJwks(dir.FullName, console))
            {
                return AegisCommand.BadInput;
            }

            console.Out.WriteLine($"jwks\t{Path.Combine(dir.FullName, JwksFile)}");
            return 0;
        });
        return new Command("keys", "Manage signing keys and organisation keys") { generate, OrgKeyCommand.Create(console) };
    }

    /// <summary>
    /// The keys of <paramref name="purposes"/> in <paramref name="dir"/>, generating missing ones, and jwks.json
    /// rewritten to publish exactly the key files present, each with its purpose. A folder of an earlier version
    /// (one <see cref="LegacyKeyFile"/> for everything) is migrated: that key becomes the bundle key, so bundles it
    /// signed keep verifying, and the other purposes get new keys (tokens it signed are refused from now on).
    /// </summary>
    public static Dictionary<KeyPurpose, LocalEd25519Signer> LoadOrCreate(string dir, IReadOnlyList<KeyPurpose> purposes, CliConsole console)
    {
        Directory.CreateDirectory(dir);
        var legacy = Path.Combine(dir, LegacyKeyFile);
        var bundleFile = Path.Combine(dir, KeyFile(KeyPurpose.Bundle));
        if (File.Exists(legacy) && !File.Exists(bundleFile))
        {
            File.Move(legacy, bundleFile);
            console.Out.WriteLine($"migrated {legacy} to {bundleFile}: it signs bundles only now; tokens and audit checkpoints get keys of their own (mint new tokens)");
        }

        var signers = new Dictionary<KeyPurpose, LocalEd25519Signer>();
        foreach (var purpose in purposes)
        {
            var file = Path.Combine(dir, KeyFile(purpose));
            if (File.Exists(file))
            {
                signers[purpose] = LocalEd25519Signer.FromPem(File.ReadAllText(file), purpose);
                continue;
            }

            var signer = LocalEd25519Signer.Generate(purpose);
            WritePrivate(file, signer.ExportPem());
            signers[purpose] = signer;
            console.Out.WriteLine($"generated a development {purpose.Name()} key in {file} (kid {signer.KeyId})");
        }

        if (!TryWriteJwks(dir, console))
        {
            throw new FormatException($"{Path.Combine(dir, JwksFile)} cannot be written from the key files in {dir}");
        }

        return signers;
    }

    /// <summary>Rewrites jwks.json from every <c>&lt;purpose&gt;-key.pem</c> in <paramref name="dir"/>.</summary>
    private static bool TryWriteJwks(string dir, CliConsole console)
    {
        var keys = new List<JsonWebKey>();
        foreach (var purpose in KeyPurposes.All)
        {
            var file = Path.Combine(dir, KeyFile(purpose));
            if (!File.Exists(file))
            {
                continue;
            }

            try
            {
                using var signer = LocalEd25519Signer.FromPem(File.ReadAllText(file), purpose);
                if (keys.Any(k => k.X == signer.PublicJwk.X))
                {
                    console.Error.WriteLine($"{file}: the same key is already another purpose's key; each purpose needs a key of its own");
                    return false;
                }

                keys.Add(signer.PublicJwk);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                console.Error.WriteLine($"{file}: {e.Message}");
                return false;
            }
        }

        File.WriteAllText(Path.Combine(dir, JwksFile), new JsonWebKeySet(keys).ToJson() + "\n");
        return true;
    }

    /// <summary>Writes <paramref name="text"/> readable by the owner only.</summary>
    public static void WritePrivate(string path, string text)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    }

    /// <summary>A fresh random secret (256 bits, base64url), for credentials kept in files.</summary>
    public static string NewSecret() => Base64Url.Encode(RandomNumberGenerator.GetBytes(32));
}
