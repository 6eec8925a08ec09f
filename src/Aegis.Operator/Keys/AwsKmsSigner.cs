using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Keys;

/// <summary>
/// Signs with an AWS KMS key of spec <c>ECC_NIST_EDWARDS25519</c> (REFERENCE.md §6): <c>Sign</c> with
/// <c>ED25519_SHA_512</c> and <c>MessageType RAW</c> is pure Ed25519, exactly what JWS EdDSA needs. The private key
/// never leaves KMS; the public key comes from <c>GetPublicKey</c> and its RFC 7638 thumbprint is the kid.
/// </summary>
public sealed class AwsKmsSigner : KmsEd25519Signer
{
    // KMS signs RAW messages of at most 4096 bytes; ours are JWS signing inputs of a few hundred.
    private const int MaxRawMessage = 4096;
    private readonly IAmazonKeyManagementService _kms;
    private readonly string _keyId;

    private AwsKmsSigner(IAmazonKeyManagementService kms, string keyId, byte[] publicKey, KeyPurpose purpose)
        : base(publicKey, purpose)
    {
        _kms = kms;
        _keyId = keyId;
    }

    public override string Description => "AWS KMS key " + _keyId;

    /// <summary>
    /// Reads the key's public half (and checks its spec) once, to sign for <paramref name="purpose"/>; throws
    /// <see cref="KmsSigningException"/> when KMS refuses.
    /// </summary>
    public static async Task<AwsKmsSigner> CreateAsync(IAmazonKeyManagementService kms, string keyId, KeyPurpose purpose, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyId);
        GetPublicKeyResponse response;
        try
        {
            response = await kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = keyId }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonServiceException e)
        {
            throw new KmsSigningException($"AWS KMS GetPublicKey for {keyId} failed: {e.ErrorCode}: {e.Message}", e);
        }

        if (response.KeySpec != KeySpec.ECC_NIST_EDWARDS25519)
        {
            throw new KmsSigningException($"AWS KMS key {keyId} has spec {response.KeySpec}; Aegis signs with ECC_NIST_EDWARDS25519 keys");
        }

        try
        {
            return new AwsKmsSigner(kms, keyId, Ed25519PublicKeys.FromSubjectPublicKeyInfo(response.PublicKey.ToArray()), purpose);
        }
        catch (FormatException e)
        {
            throw new KmsSigningException($"AWS KMS returned an unusable public key for {keyId}: {e.Message}", e);
        }
    }

    protected override async Task<byte[]> SignInKmsAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (data.Length > MaxRawMessage)
        {
            throw new ArgumentException($"AWS KMS signs RAW messages of at most {MaxRawMessage} bytes; this one has {data.Length}", nameof(data));
        }

        SignResponse response;
        try
        {
            using var message = new MemoryStream(data.ToArray());
            response = await _kms.SignAsync(new SignRequest
            {
                KeyId = _keyId,
                Message = message,
                MessageType = MessageType.RAW,
                SigningAlgorithm = SigningAlgorithmSpec.ED25519_SHA_512,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonServiceException e)
        {
            throw new KmsSigningException($"AWS KMS Sign with {_keyId} failed: {e.ErrorCode}: {e.Message}", e);
        }

        return response.Signature.ToArray();
    }
}
