using Aegis.Policy.Identity;

namespace Aegis.Operator.Keys;

/// <summary>How the operator's own signing keys (kept in a Secret) rotate; see docs/keys.md for the timeline.</summary>
public sealed record KeyRotationOptions
{
    /// <summary>
    /// The prefix of the Secrets in the operator's namespace that hold the keys, one per purpose
    /// (<see cref="SecretFor"/>; data key <c>keys.json</c>). A Secret of exactly this name is the single ring of
    /// earlier versions, which the bundle ring adopts.
    /// </summary>
    public string SecretName { get; init; } = "aegis-signing-keys";

    /// <summary>The Secret of the <paramref name="purpose"/> ring: <c>{SecretName}-{purpose}</c>.</summary>
    public string SecretFor(Aegis.Policy.Signing.KeyPurpose purpose) => $"{SecretName}-{Aegis.Policy.Signing.KeyPurposes.Name(purpose)}";

    /// <summary>How long a key signs before the next one is created.</summary>
    public TimeSpan RotationInterval { get; init; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How long a new key is published before it signs; must be at least the decision servers' JWKS refresh
    /// interval so that none of them sees a token or bundle whose kid it does not know yet.
    /// </summary>
    public TimeSpan PrePublication { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a replaced key stays published after its successor starts signing: at least the longest token
    /// lifetime plus clock skew (tokens it signed must expire first) and long enough for bundles to be re-signed.
    /// </summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromMinutes(20);

    /// <summary>How often every replica re-reads the Secret (and the leader rotates when due).</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that cannot work.</summary>
    public void Validate()
    {
        if (RotationInterval <= PrePublication)
        {
            throw new ArgumentException($"the rotation interval ({RotationInterval}) must be longer than the pre-publication delay ({PrePublication})");
        }

        if (PrePublication < TimeSpan.Zero || RefreshInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("the pre-publication delay must not be negative and the refresh interval must be positive");
        }

        if (Retention < AgentToken.MaxLifetime + AgentTokens.Skew)
        {
            throw new ArgumentException($"the retention ({Retention}) must be at least the longest token lifetime plus skew ({AgentToken.MaxLifetime + AgentTokens.Skew}), or tokens would outlive their key");
        }
    }
}
