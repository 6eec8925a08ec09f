using NSec.Cryptography;

namespace Aegis.Policy.Signing;

/// <summary>Produces EdDSA signatures with a key of one purpose: a local key, a rotating ring or a KMS key.</summary>
public interface ISigner
{
    /// <summary>The key id that verifiers look up in the JWKS.</summary>
    string KeyId { get; }

    /// <summary>What this key signs; it is published with this purpose and refused for any other.</summary>
    KeyPurpose Purpose { get; }

    /// <summary>The JWS algorithm name (always "EdDSA" for Aegis).</summary>
    string Algorithm { get; }

    /// <summary>Signs <paramref name="data"/> (pure Ed25519 over the bytes as given).</summary>
    ValueTask<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);
}

/// <summary>
/// A signer whose key changes over time (rotation). Callers take <see cref="Current"/> once per signature so the
/// kid in the header and the key that signs are always the same one, even when a rotation happens in between.
/// </summary>
public interface IRotatingSigner : ISigner
{
    /// <summary>The key that signs now; stable for the caller's whole signing operation.</summary>
    ISigner Current { get; }
}

/// <summary>An Ed25519 key held in process memory, loaded from or saved to PKCS#8 PEM.</summary>
public sealed class LocalEd25519Signer : ISigner, IDisposable
{
    private static readonly SignatureAlgorithm Ed25519 = SignatureAlgorithm.Ed25519;
    private readonly Key _key;

    private LocalEd25519Signer(Key key, KeyPurpose purpose, string? keyId)
    {
        _key = key;
        Purpose = purpose;
        PublicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        KeyId = keyId ?? JsonWebKey.Thumbprint(Base64Url.Encode(PublicKey));
    }

    public string KeyId { get; }

    public KeyPurpose Purpose { get; }

    public string Algorithm => "EdDSA";

    /// <summary>The raw 32-byte public key.</summary>
    public byte[] PublicKey { get; }

    /// <summary>A fresh key for <paramref name="purpose"/>.</summary>
    public static LocalEd25519Signer Generate(KeyPurpose purpose) =>
        new(Key.Create(Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }), purpose, null);

    /// <summary>
    /// Loads a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") Ed25519 key to sign for <paramref name="purpose"/> (a PEM
    /// carries no purpose: the caller says what it is for); the kid defaults to its JWK thumbprint.
    /// </summary>
    public static LocalEd25519Signer FromPem(string pem, KeyPurpose purpose, string? keyId = null)
    {
        var parameters = new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
        if (!Key.TryImport(Ed25519, System.Text.Encoding.ASCII.GetBytes(pem.Trim()), KeyBlobFormat.PkixPrivateKeyText, out var key, parameters) || key is null)
        {
            throw new FormatException("not an Ed25519 private key in PKCS#8 PEM form (-----BEGIN PRIVATE KEY-----)");
        }

        return new LocalEd25519Signer(key, purpose, keyId);
    }

    /// <summary>The private key as PKCS#8 PEM.</summary>
    public string ExportPem() => System.Text.Encoding.ASCII.GetString(_key.Export(KeyBlobFormat.PkixPrivateKeyText));

    /// <summary>The public JWK for this key, with its purpose.</summary>
    public JsonWebKey PublicJwk => JsonWebKey.ForEd25519(PublicKey, Purpose, KeyId);

    public ValueTask<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Ed25519.Sign(_key, data.Span));

    public void Dispose() => _key.Dispose();
}

/// <summary>Verifies raw Ed25519 signatures.</summary>
public static class Ed25519Verifier
{
    /// <summary>True when <paramref name="signature"/> is a valid signature of <paramref name="data"/> by <paramref name="publicKey"/>.</summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != 64 || !PublicKey.TryImport(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey, out var key) || key is null)
        {
            return false;
        }

        return SignatureAlgorithm.Ed25519.Verify(key, data, signature);
    }
}
