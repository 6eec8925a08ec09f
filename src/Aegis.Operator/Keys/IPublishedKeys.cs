using Aegis.Policy.Signing;

namespace Aegis.Operator.Keys;

/// <summary>A signer that knows which public keys to publish at <c>/.well-known/jwks.json</c>.</summary>
public interface IPublishedKeys
{
    /// <summary>The keys verifiers should accept now: the current one, any about to sign, and any still in use.</summary>
    JsonWebKeySet PublishedKeys { get; }
}
