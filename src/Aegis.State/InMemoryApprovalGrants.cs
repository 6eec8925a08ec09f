using Aegis.Contracts.State;

namespace Aegis.State;

/// <summary>Approval grants in process memory, for standalone mode and a single replica.</summary>
public sealed class InMemoryApprovalGrants : IApprovalGrants
{
    private readonly Dictionary<string, (int Count, DateTimeOffset ExpiresAt)> _grants = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public ValueTask GrantAsync(ApprovalKey key, int count, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        lock (_lock)
        {
            _grants[key.Hash] = (count, expiresAt);
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask<bool> HasAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        await RemainingAsync(key, now, cancellationToken).ConfigureAwait(false) > 0;

    public ValueTask<int> RemainingAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            return ValueTask.FromResult(_grants.TryGetValue(key.Hash, out var grant) && grant.ExpiresAt > now ? grant.Count : 0);
        }
    }

    public ValueTask<bool> TryConsumeAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            if (!_grants.TryGetValue(key.Hash, out var grant) || grant.ExpiresAt <= now || grant.Count <= 0)
            {
                _grants.Remove(key.Hash);
                return ValueTask.FromResult(false);
            }

            _grants[key.Hash] = (grant.Count - 1, grant.ExpiresAt);
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask RestoreAsync(ApprovalKey key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            if (_grants.TryGetValue(key.Hash, out var grant))
            {
                _grants[key.Hash] = (grant.Count + 1, grant.ExpiresAt);
            }
        }

        return ValueTask.CompletedTask;
    }
}
