using Aegis.Contracts.State;
using StackExchange.Redis;

namespace Aegis.State;

/// <summary>
/// Approval grants in Redis, shared by every decision server and written by the operator when a person approves:
/// one key per grant holding the uses left, expiring with the grant, taken one at a time by a Lua script so two
/// replicas racing for the last use cannot both win.
/// </summary>
public sealed class RedisApprovalGrants(ConnectionMultiplexer connection, string prefix) : IApprovalGrants
{
    private static readonly LuaScript Consume = LuaScript.Prepare("""
        local left = tonumber(redis.call('GET', @grant) or '0')
        if left <= 0 then return 0 end
        if left == 1 then redis.call('DEL', @grant) else redis.call('DECR', @grant) end
        return 1
        """);

    private static readonly LuaScript Set = LuaScript.Prepare("""
        redis.call('SET', @grant, @count, 'PXAT', @at)
        return 1
        """);

    // A use given back only while the grant still lives: an expired or replaced grant is not revived.
    private static readonly LuaScript Restore = LuaScript.Prepare("""
        if redis.call('EXISTS', @grant) == 1 then redis.call('INCR', @grant) return 1 end
        return 0
        """);

    public async ValueTask GrantAsync(ApprovalKey key, int count, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        // SET with its expiry in one command: a grant is never left without one.
        await RedisState.GuardAsync(() => connection.GetDatabase().ScriptEvaluateAsync(Set, new { grant = Key(key), count, at = expiresAt.ToUnixTimeMilliseconds() })).ConfigureAwait(false);
    }

    public async ValueTask<bool> HasAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        await RemainingAsync(key, now, cancellationToken).ConfigureAwait(false) > 0;

    public async ValueTask<int> RemainingAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var value = await RedisState.GuardAsync(() => connection.GetDatabase().StringGetAsync(Key(key))).ConfigureAwait(false);
        return value.TryParse(out int left) ? Math.Max(0, left) : 0;
    }

    public async ValueTask<bool> TryConsumeAsync(ApprovalKey key, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        (long)(await RedisState.GuardAsync(() => connection.GetDatabase().ScriptEvaluateAsync(Consume, new { grant = Key(key) })).ConfigureAwait(false)) == 1;

    public async ValueTask RestoreAsync(ApprovalKey key, CancellationToken cancellationToken = default) =>
        await RedisState.GuardAsync(() => connection.GetDatabase().ScriptEvaluateAsync(Restore, new { grant = Key(key) })).ConfigureAwait(false);

    // The tenant in braces is the hash tag, as for the budget keys.
    private RedisKey Key(ApprovalKey key) => $"{prefix}grant:{{{key.Tenant}}}:{key.Hash}";
}
