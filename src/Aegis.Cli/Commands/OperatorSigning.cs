using System.CommandLine;
using Aegis.Operator.Keys;
using Aegis.Operator.Tokens;
using Aegis.Policy.Signing;
using Amazon.KeyManagementService;
using Google.Apis.Auth.OAuth2;
using k8s;
using Microsoft.Extensions.Logging;

namespace Aegis.Cli.Commands;

/// <summary>
/// The signing and token-service flags of <c>aegis operator</c>: which signer (a key file, the rotated key ring in a
/// Secret, AWS KMS or Cloud KMS), rotation timing, and the org-key Secret for <c>POST /v1/token</c>.
/// </summary>
internal sealed class OperatorSigning
{
    private readonly Option<string> _signer = new("--signer") { Description = "local (--key file, else a rotated key ring in a Secret), aws-kms or gcp-kms", DefaultValueFactory = _ => "local" };
    private readonly Option<string?> _kmsKey = new("--kms-key") { Description = "With --signer aws-kms: key id or ARN (ECC_NIST_EDWARDS25519); gcp-kms: key version name (projects/.../cryptoKeyVersions/N)" };
    private readonly Option<string[]> _kmsPrevious = new("--kms-previous-key") { Description = "A KMS key (version) this one replaced: its public key stays in the JWKS, it never signs; drop the flag once --key-retention has passed (repeatable)", AllowMultipleArgumentsPerToken = true };
    private readonly Option<string> _keysSecret = new("--keys-secret") { Description = "Secret holding the rotated local keys", DefaultValueFactory = _ => new KeyRotationOptions().SecretName };
    private readonly Option<TimeSpan> _rotation = new("--key-rotation-interval") { Description = "How long a local key signs before the next one is made (d.hh:mm:ss)", DefaultValueFactory = _ => new KeyRotationOptions().RotationInterval };
    private readonly Option<TimeSpan> _prePublication = new("--key-prepublication") { Description = "How long a new key is in the JWKS before it signs; at least the decision servers' JWKS refresh interval", DefaultValueFactory = _ => new KeyRotationOptions().PrePublication };
    private readonly Option<TimeSpan> _retention = new("--key-retention") { Description = "How long a replaced key stays in the JWKS after its successor signs; at least 15m30s", DefaultValueFactory = _ => new KeyRotationOptions().Retention };
    private readonly Option<string> _orgKeys = new("--org-keys-secret") { Description = "Secret holding organisation keys (hashed) for POST /v1/token", DefaultValueFactory = _ => new TokenServiceOptions().SecretName };
    private readonly Option<string> _issuer = new("--token-issuer") { Description = "iss of the agent tokens /v1/token mints", DefaultValueFactory = _ => new TokenServiceOptions().Issuer };
    private readonly Option<bool> _noTokens = new("--no-token-service") { Description = "Do not serve POST /v1/token" };

    public OperatorSigning() => _signer.AcceptOnlyFromAmong("local", "aws-kms", "gcp-kms");

    /// <summary>--signer, for messages.</summary>
    public Option<string> SignerOption => _signer;

    public IEnumerable<Option> Options => [_signer, _kmsKey, _kmsPrevious, _keysSecret, _rotation, _prePublication, _retention, _orgKeys, _issuer, _noTokens];

    /// <summary>A problem with the flags, before anything is contacted; null when they fit together.</summary>
    public string? Check(ParseResult parse, bool keyFile)
    {
        var kind = parse.GetValue(_signer);
        if (kind != "local" && string.IsNullOrWhiteSpace(parse.GetValue(_kmsKey)))
        {
            return $"--kms-key: required with --signer {kind}";
        }

        if (kind == "local" && parse.GetValue(_kmsPrevious) is { Length: > 0 })
        {
            return "--kms-previous-key: only with --signer aws-kms or gcp-kms (the local key ring keeps its own previous keys)";
        }

        if (kind != "local" && keyFile)
        {
            return $"--key: a key file is for --signer local, not {kind}";
        }

        try
        {
            Rotation(parse).Validate();
        }
        catch (ArgumentException e)
        {
            return "--key-rotation-interval / --key-prepublication / --key-retention: " + e.Message;
        }

        return null;
    }

    public TokenServiceOptions? Tokens(ParseResult parse) => parse.GetValue(_noTokens) ? null : new TokenServiceOptions
    {
        SecretName = parse.GetValue(_orgKeys)!,
        Issuer = parse.GetValue(_issuer)!,
    };

    /// <summary>
    /// The signer: <paramref name="fileSigner"/> when a key file was given, else the kind named by --signer. Cloud
    /// credentials come from each cloud's default chain (IRSA / pod identity on AWS, Workload Identity on GKE).
    /// </summary>
    public async Task<ISigner> CreateAsync(ParseResult parse, LocalEd25519Signer? fileSigner, IKubernetes client, string ns, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (fileSigner is not null)
        {
            return fileSigner;
        }

        var kind = parse.GetValue(_signer);
        if (kind == "local")
        {
            return await SigningKeyRing.LoadOrCreateAsync(client, ns, Rotation(parse), TimeProvider.System, loggers.CreateLogger<SigningKeyRing>(), cancellationToken).ConfigureAwait(false);
        }

        Func<string, Task<KmsEd25519Signer>> open;
        if (kind == "aws-kms")
        {
            var kms = new AmazonKeyManagementServiceClient();
            open = async id => await AwsKmsSigner.CreateAsync(kms, id, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var credential = (await GoogleCredential.GetApplicationDefaultAsync(cancellationToken).ConfigureAwait(false)).CreateScoped(GcpKmsSigner.Scope);
            var http = new HttpClient();
            open = async id => await GcpKmsSigner.CreateAsync(http, id, credential, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var signer = await open(parse.GetValue(_kmsKey)!).ConfigureAwait(false);
        var previous = new List<JsonWebKey>();
        foreach (var id in parse.GetValue(_kmsPrevious) ?? [])
        {
            previous.Add((await open(id).ConfigureAwait(false)).PublicJwk);
        }

        signer.PreviousKeys = previous;
        return signer;
    }

    private KeyRotationOptions Rotation(ParseResult parse) => new()
    {
        SecretName = parse.GetValue(_keysSecret)!,
        RotationInterval = parse.GetValue(_rotation),
        PrePublication = parse.GetValue(_prePublication),
        Retention = parse.GetValue(_retention),
    };
}
