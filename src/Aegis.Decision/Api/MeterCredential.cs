using System.Security.Cryptography;
using System.Text;

namespace Aegis.Decision.Api;

/// <summary>
/// The credential of a trusted meter (<c>POST /v1/spend</c>): a secret the operator of the decision server hands to
/// an orchestrator that runs tools itself. Disabled when none is configured. Compared in constant time.
/// </summary>
public sealed class MeterCredential(string? secret)
{
    private readonly byte[]? _hash = secret is { Length: > 0 } s ? SHA256.HashData(Encoding.UTF8.GetBytes(s)) : null;

    public static readonly MeterCredential Disabled = new(null);

    public bool Enabled => _hash is not null;

    /// <summary>Whether <paramref name="presented"/> is the meter's secret.</summary>
    public bool Accepts(string? presented) =>
        _hash is not null && presented is not null && CryptographicOperations.FixedTimeEquals(_hash, SHA256.HashData(Encoding.UTF8.GetBytes(presented)));
}
