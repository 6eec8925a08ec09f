using System.Collections.Concurrent;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;

namespace Aegis.Decision.Identity;

/// <summary>
/// Verifies agent tokens against the token keys of the current JWKS, the trusted issuer and this server's audience,
/// and remembers verified ones until they expire, so the ~60 µs Ed25519 check runs once per token rather than once
/// per call. Revocation is checked on every call against the local <see cref="RevocationList"/> (no I/O).
/// </summary>
public sealed class TokenValidator(Func<JsonWebKeySet> keys, TokenExpectations expected, RevocationList revocations, TimeProvider time, int maxCached = 100_000)
{
    private readonly ConcurrentDictionary<string, AgentToken> _verified = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>What tokens must say in iss and aud.</summary>
    public TokenExpectations Expected => expected;

    /// <summary>
    /// Null when an agent identified by its sidecar (no token) may call; otherwise why not: a revocation of the agent
    /// stops its tokenless calls too while the revocation lasts, and an unreadable list refuses them as it refuses tokens.
    /// </summary>
    public string? CheckSidecarAgent(AgentToken agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        return revocations.Check(agent with { IssuedAt = DateTimeOffset.MinValue });
    }

    /// <summary>
    /// Checks <paramref name="token"/>; a cached token is re-checked for expiry, for its key still being published as
    /// a token key, and for revocation.
    /// </summary>
    public TokenCheck Validate(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return TokenCheck.Fail(TokenRejection.Missing, "no agent token (authorization: Bearer or x-aegis-token)");
        }

        var now = time.GetUtcNow();
        var jwks = keys();
        if (_verified.TryGetValue(token, out var cached))
        {
            if (cached.ExpiresAt > now - AgentTokens.Skew && jwks.Publishes(cached.KeyId, KeyPurpose.Token))
            {
                return Unrevoked(new TokenCheck(cached, null, null));
            }

            if (_verified.TryRemove(token, out _))
            {
                Interlocked.Decrement(ref _count);
            }
        }

        var check = AgentTokens.Verify(token, jwks, now, expected);
        if (check.Token is { } verified)
        {
            if (Volatile.Read(ref _count) >= maxCached)
            {
                Sweep(now);
            }

            if (Volatile.Read(ref _count) < maxCached && _verified.TryAdd(token, verified))
            {
                Interlocked.Increment(ref _count);
            }
        }

        return Unrevoked(check);
    }

    private TokenCheck Unrevoked(TokenCheck check) => check.Token is { } agent && revocations.Check(agent) is { } reason
        ? TokenCheck.Fail(reason, reason == TokenRejection.Revoked
            ? $"token {agent.Jti} of agent {agent.Tenant}/{agent.AgentId} was revoked"
            : "the revocation list cannot be read, so no token is accepted until it can")
        : check;

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (token, claims) in _verified)
        {
            if (claims.ExpiresAt <= now - AgentTokens.Skew && _verified.TryRemove(token, out _))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }
}

/// <summary>A JWKS read from a file and re-read when the file changes (checked at most every few seconds).</summary>
public sealed class FileJwksProvider : IJwksSource
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private JsonWebKeySet _current;
    private DateTime _modified;
    private DateTimeOffset _checkedAt;

    public FileJwksProvider(string path, TimeProvider time)
    {
        _path = path;
        _time = time;
        _current = JsonWebKeySet.Parse(File.ReadAllText(path));
        _modified = File.GetLastWriteTimeUtc(path);
        _checkedAt = time.GetUtcNow();
    }

    /// <summary>How often the file's modification time is looked at.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The keys; a file that no longer parses keeps the last good keys.</summary>
    public JsonWebKeySet Current
    {
        get
        {
            var now = _time.GetUtcNow();
            if (now - _checkedAt < CheckInterval)
            {
                return _current;
            }

            lock (_lock)
            {
                _checkedAt = now;
                try
                {
                    var modified = File.GetLastWriteTimeUtc(_path);
                    if (modified != _modified)
                    {
                        _current = JsonWebKeySet.Parse(File.ReadAllText(_path));
                        _modified = modified;
                    }
                }
                catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
                {
                    // Keep serving with the keys we have; the next check tries again.
                }

                return _current;
            }
        }
    }
}
