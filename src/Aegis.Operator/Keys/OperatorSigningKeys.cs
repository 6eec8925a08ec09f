using Aegis.Policy.Signing;

namespace Aegis.Operator.Keys;

/// <summary>
/// The operator's signing keys, one per purpose: bundles and tokens (agent tokens and approvals' override tokens).
/// Each is a local key, a rotating <see cref="SigningKeyRing"/> or a KMS key; the JWKS publishes all of them, each
/// with its <c>aegis_purpose</c>, so a verifier never takes one for the other.
/// </summary>
public sealed class OperatorSigningKeys : IPublishedKeys, IDisposable
{
    /// <summary>The keys for <paramref name="bundles"/> and <paramref name="tokens"/>; throws when they are not one key per purpose.</summary>
    public OperatorSigningKeys(ISigner bundles, ISigner tokens)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        ArgumentNullException.ThrowIfNull(tokens);
        Bundles = Check(bundles, KeyPurpose.Bundle);
        Tokens = Check(tokens, KeyPurpose.Token);
        var bundleKeys = Published(bundles).Keys.Select(k => k.X).ToHashSet(StringComparer.Ordinal);
        if (Published(tokens).Keys.FirstOrDefault(k => bundleKeys.Contains(k.X)) is { } shared)
        {
            throw new ArgumentException($"key {shared.Kid} would sign both bundles and tokens; each purpose needs a key of its own");
        }
    }

    /// <summary>Signs bundles.</summary>
    public ISigner Bundles { get; }

    /// <summary>Signs agent tokens and override tokens.</summary>
    public ISigner Tokens { get; }

    /// <summary>The rotating rings among the keys, whose refresh loops the host runs.</summary>
    public IEnumerable<SigningKeyRing> Rings => new[] { Bundles, Tokens }.OfType<SigningKeyRing>();

    /// <summary>Every key verifiers should accept now, each with its purpose. Read per request: rings rotate.</summary>
    public JsonWebKeySet PublishedKeys => new([.. Published(Bundles).Keys, .. Published(Tokens).Keys]);

    /// <summary>Fresh local keys, one per purpose (development and tests; a cluster uses rings or KMS).</summary>
    public static OperatorSigningKeys Generate() => new(LocalEd25519Signer.Generate(KeyPurpose.Bundle), LocalEd25519Signer.Generate(KeyPurpose.Token));

    /// <summary>Disposes the keys that hold private key material in this process.</summary>
    public void Dispose()
    {
        (Bundles as IDisposable)?.Dispose();
        (Tokens as IDisposable)?.Dispose();
    }

    private static ISigner Check(ISigner signer, KeyPurpose purpose) => signer.Purpose == purpose
        ? signer
        : throw new ArgumentException($"key {signer.KeyId} is a {signer.Purpose.Name()} key; the {purpose.Name()} key must be one of its own");

    private static JsonWebKeySet Published(ISigner signer) => signer switch
    {
        IPublishedKeys published => published.PublishedKeys,
        LocalEd25519Signer local => new JsonWebKeySet([local.PublicJwk]),
        _ => throw new InvalidOperationException($"signer {signer.GetType().Name} cannot say which public keys to publish"),
    };
}
