using Aegis.Operator.Publishing;
using Aegis.Policy.Bundles;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Keys;

/// <summary>
/// Wraps a bundle publisher so that a bundle signed by a key that no longer signs counts as not published: the
/// next reconcile re-signs it with the current key, so old keys can leave the JWKS without stranding bundles.
/// </summary>
public sealed class ResignOnRotation(IBundlePublisher inner, IRotatingSigner signer, IPublishedKeys keys) : IBundlePublisher
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _signedBy = new(StringComparer.Ordinal);

    public async Task<string?> CurrentRevisionAsync(string tenant, CancellationToken cancellationToken = default)
    {
        var revision = await inner.CurrentRevisionAsync(tenant, cancellationToken).ConfigureAwait(false);

        // Unknown signer (published before this process started) also re-signs: once per tenant per restart.
        return _signedBy.TryGetValue(tenant, out var kid) && kid == signer.Current.KeyId ? revision : null;
    }

    public async Task PublishAsync(string tenant, string revision, byte[] bundle, CancellationToken cancellationToken = default)
    {
        await inner.PublishAsync(tenant, revision, bundle, cancellationToken).ConfigureAwait(false);

        // The kid is read from the bundle itself, not the ring, so a rotation between signing and here cannot mislabel it.
        if (new BundleVerifier(keys.PublishedKeys).Verify(bundle).Bundle is { } verified)
        {
            _signedBy[tenant] = verified.KeyId;
        }
    }
}
