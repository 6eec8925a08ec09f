using Aegis.Policy.Signing;

namespace Aegis.Operator.Keys;

/// <summary>
/// An Ed25519 key held by a KMS: its public half is published (kid = RFC 7638 thumbprint) and every signature the
/// KMS returns is checked against it before use, so a wrong key or a garbled answer never reaches a bundle or token.
/// </summary>
public abstract class KmsEd25519Signer : ISigner, IPublishedKeys
{
    protected KmsEd25519Signer(byte[] publicKey, KeyPurpose purpose)
    {
        PublicKey = publicKey;
        Purpose = purpose;
        PublicJwk = JsonWebKey.ForEd25519(publicKey, purpose);
        KeyId = PublicJwk.Kid!;
    }

    public string KeyId { get; }

    public KeyPurpose Purpose { get; }

    public string Algorithm => "EdDSA";

    /// <summary>The raw 32-byte public key.</summary>
    public byte[] PublicKey { get; }

    public JsonWebKey PublicJwk { get; }

    /// <summary>
    /// Public keys of KMS keys this one replaced, still published so that tokens and bundles they signed verify
    /// until they are gone (docs/keys.md, "KMS rotation"). They never sign.
    /// </summary>
    public IReadOnlyList<JsonWebKey> PreviousKeys { get; set; } = [];

    public JsonWebKeySet PublishedKeys => new([PublicJwk, .. PreviousKeys.Where(k => k.Kid != KeyId)]);

    /// <summary>The KMS key as people name it, for messages.</summary>
    public abstract string Description { get; }

    public async ValueTask<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        var signature = await SignInKmsAsync(data, cancellationToken).ConfigureAwait(false);
        return Ed25519Verifier.Verify(PublicKey, data.Span, signature)
            ? signature
            : throw new KmsSigningException($"{Description} returned a signature that does not verify with its public key");
    }

    /// <summary>Asks the KMS for a pure Ed25519 signature of <paramref name="data"/>.</summary>
    protected abstract Task<byte[]> SignInKmsAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
}
