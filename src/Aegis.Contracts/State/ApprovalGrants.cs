using System.Security.Cryptography;
using System.Text;

namespace Aegis.Contracts.State;

/// <summary>
/// What an approval covers: exactly this agent's call of this tool with these arguments (their digest), under the
/// rule that asked for it. A grant for one key never covers another.
/// </summary>
public sealed record ApprovalKey(string Tenant, string AgentId, string Tool, string ArgsDigest, string Policy, string? Rule)
{
    /// <summary>Hex sha-256 of every field: the store's key, and the stem of the ApprovalRequest's name.</summary>
    public string Hash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Tenant}\n{AgentId}\n{Tool}\n{ArgsDigest}\n{Policy}\n{Rule}")));
}

/// <summary>
/// Approvals a person granted, consumed by the calls they cover: "retry is the protocol". A grant allows
/// <c>count</c> calls (one, or a batch) until it expires; each use is taken atomically across every replica.
/// </summary>
public interface IApprovalGrants
{
    /// <summary>Grants <paramref name="count"/> uses of <paramref name="key"/> until <paramref name="expiresAt"/> (replacing an earlier grant).</summary>
    ValueTask GrantAsync(ApprovalKey key, int count, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);

    /// <summary>Whether a use of <paramref name="key"/> is left (without taking it).</summary>
    ValueTask<bool> HasAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Takes one use: true once per use granted, false when none is left or the grant expired.</summary>
    ValueTask<bool> TryConsumeAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Gives back a use taken by a call that was refused after all (a budget spent by a concurrent call).</summary>
    ValueTask RestoreAsync(ApprovalKey key, CancellationToken cancellationToken = default);

    /// <summary>Uses left of <paramref name="key"/> (0 when none or expired).</summary>
    ValueTask<int> RemainingAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default);
}
