using System.CommandLine;
using Aegis.Decision.Audit.Archive;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;
using Amazon.S3;

namespace Aegis.Cli.Commands;

/// <summary>
/// <c>aegis audit verify SOURCE... --jwks J</c>: check the segments of any number of replicas (files, folders,
/// s3:// or gs:// buckets) and name the replica, segment and first bad record; <c>aegis audit keygen</c>: an
/// audit-purpose key and its JWKS.
/// </summary>
internal static class AuditCommand
{
    /// <summary>File name of the audit private key.</summary>
    public const string KeyFile = "audit-key.pem";

    /// <summary>File name of the audit JWKS (its key carries aegis_purpose: audit).</summary>
    public const string JwksFile = "audit-jwks.json";

    public static Command Create(CliConsole console) =>
        new("audit", "Work with decision audit logs") { Verify(console), KeyGen(console), Jwks(console) };

    private static Command Jwks(CliConsole console)
    {
        var key = new Option<FileInfo?>("--key") { Description = "An audit key file (PKCS#8 PEM), such as the one the chart keeps in the aegis-audit-key Secret" };
        var signer = new Option<string?>("--signer") { Description = "aws-kms or gcp-kms: read the public key of --kms-key from the KMS instead" };
        var kmsKey = new Option<string?>("--kms-key") { Description = "aws-kms: key id or ARN; gcp-kms: key version name" };
        signer.AcceptOnlyFromAmong("aws-kms", "gcp-kms");
        var jwks = new Command("jwks", "Print the JWKS (aegis_purpose: audit) verifiers need for an audit key: from a key file or a KMS key") { key, signer, kmsKey };
        jwks.SetAction(async (parse, cancellationToken) =>
        {
            if ((parse.GetValue(key) is null) == (parse.GetValue(signer) is null) || (parse.GetValue(signer) is not null && string.IsNullOrWhiteSpace(parse.GetValue(kmsKey))))
            {
                console.Error.WriteLine("give --key FILE, or --signer aws-kms|gcp-kms with --kms-key");
                return AegisCommand.BadInput;
            }

            try
            {
                JsonWebKey publicKey;
                if (parse.GetValue(key) is { } file)
                {
                    using var local = LocalEd25519Signer.FromPem(await File.ReadAllTextAsync(file.FullName, cancellationToken).ConfigureAwait(false), KeyPurpose.Audit);
                    publicKey = local.PublicJwk;
                }
                else if (parse.GetValue(signer) == "aws-kms")
                {
                    publicKey = (await Aegis.Operator.Keys.AwsKmsSigner.CreateAsync(new Amazon.KeyManagementService.AmazonKeyManagementServiceClient(), parse.GetValue(kmsKey)!, KeyPurpose.Audit, cancellationToken).ConfigureAwait(false)).PublicJwk;
                }
                else
                {
                    var credential = (await Google.Apis.Auth.OAuth2.GoogleCredential.GetApplicationDefaultAsync(cancellationToken).ConfigureAwait(false)).CreateScoped(Aegis.Operator.Keys.GcpKmsSigner.Scope);
                    using var http = new HttpClient();
                    publicKey = (await Aegis.Operator.Keys.GcpKmsSigner.CreateAsync(http, parse.GetValue(kmsKey)!, credential, KeyPurpose.Audit, cancellationToken: cancellationToken).ConfigureAwait(false)).PublicJwk;
                }

                console.Out.Write(AuditKeys.Jwks(publicKey));
                return 0;
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or Aegis.Operator.Keys.KmsSigningException or InvalidOperationException)
            {
                console.Error.WriteLine($"{parse.GetValue(key)?.FullName ?? parse.GetValue(kmsKey)}: {e.Message}");
                return AegisCommand.BadInput;
            }
        });
        return jwks;
    }

    private static Command Verify(CliConsole console)
    {
        var sources = new Argument<string[]>("source") { Description = "Segment files, folders of them (searched recursively for *.jsonl), or s3://bucket/prefix and gs://bucket/prefix", Arity = ArgumentArity.OneOrMore };
        var jwks = new Option<FileInfo>("--jwks") { Description = "JWKS with the audit keys checkpoints are signed with (keys of another aegis_purpose are refused)", Required = true };
        var anchors = new Option<FileInfo[]>("--anchors") { Description = "Checkpoint lines kept elsewhere (the SIEM's copy of the stdout or OTLP stream): each must lie inside the chain it names, so cut-off tails are found", AllowMultipleArgumentsPerToken = true };
        var s3Endpoint = AuditFlags.AbsoluteUri("--s3-endpoint", "S3-compatible endpoint for s3:// sources (path-style); AWS when absent");
        var gcsEndpoint = AuditFlags.AbsoluteUri("--gcs-endpoint", "Cloud Storage endpoint for gs:// sources; Google when absent");
        var verify = new Command("verify", "Check hash chains, segment order and checkpoint signatures; exit 1 naming the replica, segment and first bad record") { sources, jwks, anchors, s3Endpoint, gcsEndpoint };
        verify.SetAction(async (parse, cancellationToken) =>
        {
            AuditKeys keys;
            var jwksFile = parse.GetValue(jwks)!;
            try
            {
                keys = AuditKeys.Parse(await File.ReadAllTextAsync(jwksFile.FullName, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                console.Error.WriteLine($"{jwksFile.FullName}: {e.Message}");
                return AegisCommand.BadInput;
            }

            var loaded = new List<AuditSource>();
            foreach (var source in parse.GetValue(sources)!.Concat((parse.GetValue(anchors) ?? []).Select(a => a.FullName)))
            {
                try
                {
                    loaded.AddRange(await LoadAsync(source, parse.GetValue(s3Endpoint), parse.GetValue(gcsEndpoint), cancellationToken).ConfigureAwait(false));
                }
                catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or AuditArchiveException or InvalidOperationException)
                {
                    console.Error.WriteLine($"{source}: {e.Message}");
                    return AegisCommand.BadInput;
                }
            }

            var report = AuditVerifier.Verify(loaded, keys);
            foreach (var chain in report.Replicas)
            {
                var unsigned = chain.Lines - chain.SignedThrough;
                console.Out.WriteLine($"replica {chain.Replica}: segments {chain.FirstSegment}-{chain.LastSegment}, {chain.Lines} lines, {chain.Records} records, {chain.Checkpoints} signed checkpoint(s), signed through line {chain.SignedThrough}; "
                    + (chain.Closed ? "closed" : $"open (the last {unsigned} line(s) are chained but not yet under a checkpoint signature)"));
            }

            foreach (var problem in report.Problems)
            {
                (problem.Fatal ? console.Error : console.Out).WriteLine((problem.Fatal ? "error: " : "note: ") + problem);
            }

            if (!report.Valid)
            {
                return 1;
            }

            console.Out.WriteLine($"valid: {report.Replicas.Count} replica(s), {report.Replicas.Sum(r => r.Records)} records");
            return 0;
        });
        return verify;
    }

    private static Command KeyGen(CliConsole console)
    {
        var output = new Option<DirectoryInfo>("--out") { Description = $"Folder for {KeyFile} (mode 0600) and {JwksFile}", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace an existing key (logs it signed then verify only with the old JWKS)" };
        var keygen = new Command("keygen", "Generate an audit-purpose Ed25519 key (PKCS#8 PEM) and its JWKS (aegis_purpose: audit)") { output, force };
        keygen.SetAction(parse =>
        {
            var dir = parse.GetValue(output)!;
            var keyPath = Path.Combine(dir.FullName, KeyFile);
            if (File.Exists(keyPath) && !parse.GetValue(force))
            {
                console.Error.WriteLine($"{keyPath}: already exists; pass --force to replace it");
                return 1;
            }

            dir.Create();
            using var signer = LocalEd25519Signer.Generate(KeyPurpose.Audit);
            WriteKeyPair(signer, dir.FullName);
            console.Out.WriteLine($"kid\t{signer.KeyId}");
            console.Out.WriteLine($"key\t{keyPath}");
            console.Out.WriteLine($"jwks\t{Path.Combine(dir.FullName, JwksFile)}");
            return 0;
        });
        return keygen;
    }

    /// <summary>Writes audit-key.pem (owner-only) and audit-jwks.json into <paramref name="dir"/>.</summary>
    public static void WriteKeyPair(LocalEd25519Signer signer, string dir)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(Path.Combine(dir, KeyFile), options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(signer.ExportPem());
        }

        File.WriteAllText(Path.Combine(dir, JwksFile), AuditKeys.Jwks(signer.PublicJwk));
    }

    /// <summary>The audit files a source names: one file, every *.jsonl under a folder, or every object under a bucket prefix.</summary>
    internal static async Task<List<AuditSource>> LoadAsync(string source, Uri? s3Endpoint, Uri? gcsEndpoint, CancellationToken cancellationToken)
    {
        if (source.StartsWith("s3://", StringComparison.Ordinal) || source.StartsWith("gs://", StringComparison.Ordinal))
        {
            var archive = await AuditArchives.OpenAsync(source, s3Endpoint, gcsEndpoint, ObjectLockMode.Compliance, cancellationToken).ConfigureAwait(false);
            var root = archive.Location[..(archive.Location.IndexOf('/', 5) + 1)];
            var found = new List<AuditSource>();
            foreach (var o in await archive.ListAsync("", cancellationToken).ConfigureAwait(false))
            {
                if (o.Key.EndsWith(".jsonl", StringComparison.Ordinal))
                {
                    var content = await archive.GetAsync(o.Key, cancellationToken).ConfigureAwait(false) ?? throw new IOException($"{o.Key} was listed but cannot be read");
                    found.Add(new AuditSource(root + o.Key, content));
                }
            }

            return found.Count > 0 ? found : throw new IOException($"no *.jsonl objects under {archive.Location}");
        }

        if (Directory.Exists(source))
        {
            var files = Directory.GetFiles(source, "*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
            return files.Count > 0
                ? [.. files.Select(f => new AuditSource(f, File.ReadAllBytes(f)))]
                : throw new IOException("no *.jsonl files in this folder");
        }

        return File.Exists(source) ? [new AuditSource(source, await File.ReadAllBytesAsync(source, cancellationToken).ConfigureAwait(false))] : throw new IOException("no such file or folder");
    }
}
