using System.CommandLine;
using Aegis.Decision.Audit;
using Aegis.Operator.Keys;
using Aegis.Policy.Audit;
using Aegis.Policy.Signing;
using Amazon.KeyManagementService;
using Amazon.S3;
using Google.Apis.Auth.OAuth2;

namespace Aegis.Cli.Commands;

/// <summary>
/// The audit flags of <c>aegis serve</c>: where this replica's chain lives, its id, the audit-purpose key (a file
/// mounted from a Secret, or AWS KMS / Cloud KMS), the group-commit, checkpoint and rotation settings, and where lines
/// are shipped (stdout, OTLP, a write-once bucket).
/// </summary>
internal sealed class AuditFlags
{
    private readonly Option<DirectoryInfo?> _dir = new("--audit-dir") { Description = "Folder of this replica's audit segments (required with --bundle-url unless --no-audit); standalone: <state-dir>/audit" };
    private readonly Option<bool> _none = new("--no-audit") { Description = "With --bundle-url: run without an audit log (not for production: decisions leave no record)" };
    private readonly Option<string?> _replica = new("--replica-id") { Description = "This replica's id in every segment and object key; default the host name (the pod name in Kubernetes)" };
    private readonly Option<FileInfo?> _key = new("--audit-key") { Description = $"PKCS#8 PEM Ed25519 key that signs checkpoints (audit purpose; aegis audit keygen); standalone: <state-dir>/keys/audit-key.pem, created if missing" };
    private readonly Option<string> _signer = new("--audit-signer") { Description = "local (--audit-key), aws-kms or gcp-kms (--audit-kms-key)", DefaultValueFactory = _ => "local" };
    private readonly Option<string?> _kmsKey = new("--audit-kms-key") { Description = "aws-kms: key id or ARN (ECC_NIST_EDWARDS25519); gcp-kms: key version name (.../cryptoKeyVersions/N)" };
    private readonly Option<bool> _stdout = new("--audit-stdout") { Description = "Also write every committed audit line to stdout, for node log collectors" };
    private readonly Option<Uri?> _otlp = AbsoluteUri("--audit-otlp-endpoint", "Also send every committed line as an OTLP log record to this OTLP/HTTP collector, e.g. http://otel-collector:4318");
    private readonly Option<string?> _archive = new("--audit-archive") { Description = "Upload closed segments to s3://bucket/prefix (Object Lock) or gs://bucket/prefix (locked retention policy)" };
    private readonly Option<int> _retentionDays = new("--audit-retention-days") { Description = "How long archived segments are locked against deletion", DefaultValueFactory = _ => 365 };
    private readonly Option<string> _lockMode = new("--audit-object-lock-mode") { Description = "S3 Object Lock mode: COMPLIANCE (nobody can shorten it) or GOVERNANCE", DefaultValueFactory = _ => "COMPLIANCE" };
    private readonly Option<Uri?> _s3Endpoint = AbsoluteUri("--audit-s3-endpoint", "S3-compatible endpoint (path-style); AWS when absent");
    private readonly Option<Uri?> _gcsEndpoint = AbsoluteUri("--audit-gcs-endpoint", "Cloud Storage endpoint; Google when absent");
    private readonly Option<double> _window = new("--audit-commit-window-ms") { Description = "Longest a record waits to share an fsync with others; 0 (default): sync as soon as the writer is free, the records queued meanwhile sharing the next fsync", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _batch = new("--audit-commit-max-records") { Description = "A batch this big is committed without waiting out the window", DefaultValueFactory = _ => 256 };
    private readonly Option<int> _checkpointEvery = new("--audit-checkpoint-every") { Description = "A signed checkpoint after this many records...", DefaultValueFactory = _ => 1_000 };
    private readonly Option<int> _checkpointSeconds = new("--audit-checkpoint-seconds") { Description = "...or this many seconds, whichever comes first", DefaultValueFactory = _ => 10 };
    private readonly Option<int> _segmentMb = new("--audit-segment-mb") { Description = "Close the segment and start the next past this size (MiB)...", DefaultValueFactory = _ => 64 };
    private readonly Option<int> _segmentMinutes = new("--audit-segment-minutes") { Description = "...or this age (minutes)", DefaultValueFactory = _ => 60 };

    public AuditFlags()
    {
        _signer.AcceptOnlyFromAmong("local", "aws-kms", "gcp-kms");
        _lockMode.AcceptOnlyFromAmong("COMPLIANCE", "GOVERNANCE");
    }

    /// <summary>An option holding an absolute URL (System.CommandLine has no parser for Uri).</summary>
    internal static Option<Uri?> AbsoluteUri(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            {
                return uri;
            }

            result.AddError($"{name}: \"{text}\" is not an absolute http(s) URL");
            return null;
        },
    };

    public IEnumerable<Option> Options => [_dir, _none, _replica, _key, _signer, _kmsKey, _stdout, _otlp, _archive, _retentionDays, _lockMode, _s3Endpoint, _gcsEndpoint, _window, _batch, _checkpointEvery, _checkpointSeconds, _segmentMb, _segmentMinutes];

    /// <summary>The replica id: --replica-id, else the host name (a pod's host name is its name).</summary>
    public string Replica(ParseResult parse) => parse.GetValue(_replica) ?? Environment.MachineName;

    /// <summary>A problem with the flags before anything is opened; null when they fit together.</summary>
    public string? Check(ParseResult parse, bool cluster)
    {
        var kind = parse.GetValue(_signer);
        return parse.GetValue(_none) && !cluster ? "--no-audit: only with --bundle-url (standalone always audits)"
            : parse.GetValue(_none) && parse.GetValue(_dir) is not null ? "--no-audit and --audit-dir: give one"
            : parse.GetValue(_none) ? null
            : cluster && parse.GetValue(_dir) is null ? "--audit-dir: required with --bundle-url (or --no-audit)"
            : !AuditChain.IsValidReplica(Replica(parse)) ? $"--replica-id: \"{Replica(parse)}\" is not a replica id (1-128 of A-Z a-z 0-9 . _ -)"
            : kind == "local" && cluster && parse.GetValue(_key) is null ? "--audit-key: required with --bundle-url and --audit-signer local (mount the audit key Secret)"
            : kind != "local" && string.IsNullOrWhiteSpace(parse.GetValue(_kmsKey)) ? $"--audit-kms-key: required with --audit-signer {kind}"
            : kind != "local" && parse.GetValue(_key) is not null ? $"--audit-key: a key file is for --audit-signer local, not {kind}"
            : parse.GetValue(_archive) is { } a && !Aegis.Decision.Audit.Archive.ArchiveAddress.TryParse(a, out _, out _, out _, out var error) ? "--audit-archive: " + error
            : parse.GetValue(_window) is < 0 or > 1000 ? "--audit-commit-window-ms: between 0 and 1000"
            : parse.GetValue(_batch) < 1 || parse.GetValue(_checkpointEvery) < 1 || parse.GetValue(_checkpointSeconds) < 1 || parse.GetValue(_segmentMb) < 1 || parse.GetValue(_segmentMinutes) < 1 || parse.GetValue(_retentionDays) < 1
                ? "--audit-commit-max-records, --audit-checkpoint-every, --audit-checkpoint-seconds, --audit-segment-mb, --audit-segment-minutes, --audit-retention-days: at least 1"
            : null;
    }

    /// <summary>
    /// The audit options, or null with --no-audit. <paramref name="standaloneState"/> is the standalone state folder,
    /// where the folder defaults to, and <paramref name="standaloneKey"/> its audit key, the default signer. Throws <see cref="FormatException"/> or <see cref="KmsSigningException"/>
    /// with the reason when the key cannot be used.
    /// </summary>
    public async Task<DecisionAuditOptions?> BuildAsync(ParseResult parse, string? standaloneState, ISigner? standaloneKey, CancellationToken cancellationToken)
    {
        if (parse.GetValue(_none))
        {
            return null;
        }

        var directory = parse.GetValue(_dir)?.FullName ?? Path.Combine(standaloneState!, "audit");

        // Refuse a folder the server could not write before anything listens: an IOException here names it.
        Directory.CreateDirectory(directory);
        var probe = Path.Combine(directory, ".aegis-write-probe");
        await File.WriteAllBytesAsync(probe, [], cancellationToken).ConfigureAwait(false);
        File.Delete(probe);
        var archive = parse.GetValue(_archive) is { } url
            ? await AuditArchives.OpenAsync(url, parse.GetValue(_s3Endpoint), parse.GetValue(_gcsEndpoint), parse.GetValue(_lockMode) == "GOVERNANCE" ? ObjectLockMode.Governance : ObjectLockMode.Compliance, cancellationToken).ConfigureAwait(false)
            : null;
        return new DecisionAuditOptions
        {
            Log = new AuditLogOptions
            {
                Directory = directory,
                Replica = Replica(parse),
                Signer = await SignerAsync(parse, standaloneKey, cancellationToken).ConfigureAwait(false),
                CommitWindow = TimeSpan.FromMilliseconds(parse.GetValue(_window)),
                CommitMaxRecords = parse.GetValue(_batch),
                CheckpointEvery = parse.GetValue(_checkpointEvery),
                CheckpointInterval = TimeSpan.FromSeconds(parse.GetValue(_checkpointSeconds)),
                SegmentMaxBytes = parse.GetValue(_segmentMb) * 1024L * 1024,
                SegmentMaxAge = TimeSpan.FromMinutes(parse.GetValue(_segmentMinutes)),
            },
            Stdout = parse.GetValue(_stdout) ? Console.OpenStandardOutput() : null,
            OtlpEndpoint = parse.GetValue(_otlp),
            Archive = archive,
            Retention = TimeSpan.FromDays(parse.GetValue(_retentionDays)),
        };
    }

    private async Task<ISigner> SignerAsync(ParseResult parse, ISigner? standaloneKey, CancellationToken cancellationToken)
    {
        switch (parse.GetValue(_signer))
        {
            case "aws-kms":
                return await AwsKmsSigner.CreateAsync(new AmazonKeyManagementServiceClient(), parse.GetValue(_kmsKey)!, KeyPurpose.Audit, cancellationToken).ConfigureAwait(false);
            case "gcp-kms":
                var credential = (await GoogleCredential.GetApplicationDefaultAsync(cancellationToken).ConfigureAwait(false)).CreateScoped(GcpKmsSigner.Scope);
                return await GcpKmsSigner.CreateAsync(new HttpClient(), parse.GetValue(_kmsKey)!, credential, KeyPurpose.Audit, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        if (parse.GetValue(_key) is { } file)
        {
            return LocalEd25519Signer.FromPem(await File.ReadAllTextAsync(file.FullName, cancellationToken).ConfigureAwait(false), KeyPurpose.Audit);
        }

        // Standalone: the audit key of the state folder (beside the bundle and token keys, never one of them).
        return standaloneKey ?? throw new ArgumentException("--audit-key: required with --audit-signer local");
    }
}
