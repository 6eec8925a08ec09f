using System.Security.Cryptography;
using System.Text;

namespace Aegis.Decision.Api;

/// <summary>A secret presented as <c>authorization: Bearer</c>, compared in constant time; disabled when none is configured.</summary>
public abstract class SecretCredential(string? secret)
{
    private readonly byte[]? _hash = secret is { Length: > 0 } s ? SHA256.HashData(Encoding.UTF8.GetBytes(s)) : null;

    public bool Enabled => _hash is not null;

    /// <summary>Whether <paramref name="presented"/> is the secret.</summary>
    public bool Accepts(string? presented) =>
        _hash is not null && presented is not null && CryptographicOperations.FixedTimeEquals(_hash, SHA256.HashData(Encoding.UTF8.GetBytes(presented)));
}

/// <summary>
/// The credential of a trusted meter (<c>POST /v1/spend</c>): a secret the operator of the decision server hands to
/// an orchestrator that runs tools itself. Never an agent's token.
/// </summary>
public sealed class MeterCredential(string? secret) : SecretCredential(secret);

/// <summary>
/// The credential of the person running a standalone decision server (<c>.aegis/admin-token</c>): it decides
/// approvals on the local desk and revokes tokens. Agents never hold it.
/// </summary>
public sealed class AdminCredential(string? secret) : SecretCredential(secret);
