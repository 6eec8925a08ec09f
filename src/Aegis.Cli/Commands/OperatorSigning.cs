using System.CommandLine;
using Aegis.Operator.Keys;
using Aegis.Operator.Tokens;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Amazon.KeyManagementService;
using Google.Apis.Auth.OAuth2;
using k8s;
using Microsoft.Extensions.Logging;

namespace Aegis.Cli.Commands;

/// <summary>
/// The signing and token-service flags of <c>aegis operator</c>. One key per purpose: bundles and tokens each come
/// from a key file (<c>--key</c>, <c>--token-key</c>), a KMS key (<c>--kms-key</c>, <c>--kms-token-key</c>), or a
/// rotated key ring in a Secret of their own; the token service's iss and aud; the org-key Secret.
/// </summary>
internal sealed class OperatorSigning
{
    private readonly Option<FileInfo?> _bundleFile = new("--key") { Description = "A fixed bundle key (PKCS#8 PEM) instead of the rotated bundle ring (--signer local only)" };
    private readonly Option<FileInfo?> _tokenFile = new("--token-key") { Description = "A fixed token key (PKCS#8 PEM) instead of the rotated token ring; never the same key as --key" };
    private readonly Option<string> _signer = new("--signer") { Description = "Where the bundle key lives: local (--key file, else a rotated key ring in a Secret), aws-kms or gcp-kms", DefaultValueFactory = _ => "local" };
    private readonly Option<string?> _kmsKey = new("--kms-key") { Description = "The bundle key with --signer aws-kms (key id or ARN, ECC_NIST_EDWARDS25519) or gcp-kms (key version name projects/.../cryptoKeyVersions/N)" };
    private readonly Option<string?> _kmsTokenKey = new("--kms-token-key") { Description = "The token key in the same KMS; a different key from --kms-key. Without it tokens are signed by the rotated local token ring (or --token-key)" };
    private readonly Option<string[]> _kmsPrevious = new("--kms-previous-key") { Description = "A KMS bundle key (version) --kms-key replaced: its public key stays in the JWKS, it never signs; drop the flag once --key-retention has passed (repeatable)", AllowMultipleArgumentsPerToken = true };
    private readonly Option<string[]> _kmsPreviousToken = new("--kms-previous-token-key") { Description = "The same for --kms-token-key (repeatable)", AllowMultipleArgumentsPerToken = true };
    private readonly Option<string> _keysSecret = new("--keys-secret") { Description = "Prefix of the Secrets holding the rotated local keys: <prefix>-bundle, <prefix>-token", DefaultValueFactory = _ => new KeyRotationOptions().SecretName };
    private readonly Option<TimeSpan> _rotation = new("--key-rotation-interval") { Description = "How long a local key signs before the next one is made (d.hh:mm:ss)", DefaultValueFactory = _ => new KeyRotationOptions().RotationInterval };
    private readonly Option<TimeSpan> _prePublication = new("--key-prepublication") { Description = "How long a new key is in the JWKS before it signs; at least the decision servers' JWKS refresh interval", DefaultValueFactory = _ => new KeyRotationOptions().PrePublication };
    private readonly Option<TimeSpan> _retention = new("--key-retention") { Description = "How long a replaced key stays in the JWKS after its successor signs; at least 15m30s", DefaultValueFactory = _ => new KeyRotationOptions().Retention };
    private readonly Option<string> _orgKeys = new("--org-keys-secret") { Description = "Secret holding organisation keys (hashed) for POST /v1/token", DefaultValueFactory = _ => new TokenServiceOptions().SecretName };
    private readonly Option<string> _issuer = new("--token-issuer") { Description = "iss of the agent tokens /v1/token mints (the decision servers' --token-issuer)", DefaultValueFactory = _ => AgentTokens.OperatorIssuer };
    private readonly Option<string> _audience = new("--token-audience") { Description = "aud of the agent and override tokens the operator mints (the decision servers' --token-audience)", DefaultValueFactory = _ => AgentTokens.DefaultAudience };
    private readonly Option<bool> _noTokens = new("--no-token-service") { Description = "Do not serve POST /v1/token" };

    public OperatorSigning() => _signer.AcceptOnlyFromAmong("local", "aws-kms", "gcp-kms");

    /// <summary>--signer, for messages.</summary>
    public Option<string> SignerOption => _signer;

    public IEnumerable<Option> Options => [_bundleFile, _tokenFile, _signer, _kmsKey, _kmsTokenKey, _kmsPrevious, _kmsPreviousToken, _keysSecret, _rotation, _prePublication, _retention, _orgKeys, _issuer, _audience, _noTokens];

    /// <summary>A problem with the flags, before anything is contacted; null when they fit together.</summary>
    public string? Check(ParseResult parse)
    {
        var kind = parse.GetValue(_signer);
        if (kind != "local" && string.IsNullOrWhiteSpace(parse.GetValue(_kmsKey)))
        {
            return $"--kms-key: required with --signer {kind}";
        }

        if (kind == "local" && (parse.GetValue(_kmsTokenKey) is not null || parse.GetValue(_kmsPrevious) is { Length: > 0 } || parse.GetValue(_kmsPreviousToken) is { Length: > 0 }))
        {
            return "--kms-token-key / --kms-previous-key / --kms-previous-token-key: only with --signer aws-kms or gcp-kms (the local key rings keep their own previous keys)";
        }

        if (kind != "local" && parse.GetValue(_bundleFile) is not null)
        {
            return $"--key: a bundle key file is for --signer local, not {kind}";
        }

        if (parse.GetValue(_kmsTokenKey) is { } tokenKey)
        {
            if (string.Equals(tokenKey, parse.GetValue(_kmsKey), StringComparison.Ordinal))
            {
                return "--kms-token-key: must be a different KMS key from --kms-key (a key signs for one purpose only)";
            }

            if (parse.GetValue(_tokenFile) is not null)
            {
                return "--token-key and --kms-token-key: give one token key, not two";
            }
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

    /// <summary>The token service's settings; <c>--no-token-service</c> leaves the endpoint off.</summary>
    public TokenServiceOptions? Tokens(ParseResult parse) => parse.GetValue(_noTokens) ? null : new TokenServiceOptions
    {
        SecretName = parse.GetValue(_orgKeys)!,
        Issuer = parse.GetValue(_issuer)!,
        Audience = parse.GetValue(_audience)!,
    };

    /// <summary>
    /// The keys, one per purpose. Cloud credentials come from each cloud's default chain (IRSA / pod identity on
    /// AWS, Workload Identity on GKE). Throws (with the reason) when a key cannot be opened or two purposes would
    /// share one key.
    /// </summary>
    public async Task<OperatorSigningKeys> CreateAsync(ParseResult parse, IKubernetes client, string ns, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var kind = parse.GetValue(_signer);
        Func<string, KeyPurpose, Task<KmsEd25519Signer>>? open = null;
        if (kind == "aws-kms")
        {
            var kms = new AmazonKeyManagementServiceClient();
            open = async (id, purpose) => await AwsKmsSigner.CreateAsync(kms, id, purpose, cancellationToken).ConfigureAwait(false);
        }
        else if (kind == "gcp-kms")
        {
            var credential = (await GoogleCredential.GetApplicationDefaultAsync(cancellationToken).ConfigureAwait(false)).CreateScoped(GcpKmsSigner.Scope);
            var http = new HttpClient();
            open = async (id, purpose) => await GcpKmsSigner.CreateAsync(http, id, credential, purpose, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var bundles = await SignerAsync(parse, KeyPurpose.Bundle, _bundleFile, open is null ? null : parse.GetValue(_kmsKey), _kmsPrevious, open, client, ns, loggers, cancellationToken).ConfigureAwait(false);
        var tokens = await SignerAsync(parse, KeyPurpose.Token, _tokenFile, open is null ? null : parse.GetValue(_kmsTokenKey), _kmsPreviousToken, open, client, ns, loggers, cancellationToken).ConfigureAwait(false);
        return new OperatorSigningKeys(bundles, tokens);
    }

    private async Task<ISigner> SignerAsync(ParseResult parse, KeyPurpose purpose, Option<FileInfo?> fileOption, string? kmsKey, Option<string[]> previousOption,
        Func<string, KeyPurpose, Task<KmsEd25519Signer>>? open, IKubernetes client, string ns, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (parse.GetValue(fileOption) is { } file)
        {
            return LocalEd25519Signer.FromPem(await File.ReadAllTextAsync(file.FullName, cancellationToken).ConfigureAwait(false), purpose);
        }

        if (kmsKey is not null && open is not null)
        {
            var signer = await open(kmsKey, purpose).ConfigureAwait(false);
            var previous = new List<JsonWebKey>();
            foreach (var id in parse.GetValue(previousOption) ?? [])
            {
                previous.Add((await open(id, purpose).ConfigureAwait(false)).PublicJwk);
            }

            signer.PreviousKeys = previous;
            return signer;
        }

        return await SigningKeyRing.LoadOrCreateAsync(client, ns, purpose, Rotation(parse), TimeProvider.System, loggers.CreateLogger<SigningKeyRing>(), cancellationToken).ConfigureAwait(false);
    }

    private KeyRotationOptions Rotation(ParseResult parse) => new()
    {
        SecretName = parse.GetValue(_keysSecret)!,
        RotationInterval = parse.GetValue(_rotation),
        PrePublication = parse.GetValue(_prePublication),
        Retention = parse.GetValue(_retention),
    };
}
