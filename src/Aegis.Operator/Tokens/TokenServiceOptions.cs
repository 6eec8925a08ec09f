using Aegis.Policy.Identity;

namespace Aegis.Operator.Tokens;

/// <summary>Settings of <c>POST /v1/token</c>; hosts fill them from flags.</summary>
public sealed record TokenServiceOptions
{
    /// <summary>The Secret in the operator's namespace holding the org keys' hashes and grants.</summary>
    public string SecretName { get; init; } = "aegis-org-keys";

    /// <summary>The <c>iss</c> of minted tokens; decision servers trust exactly this issuer (<c>--token-issuer</c>).</summary>
    public string Issuer { get; init; } = AgentTokens.OperatorIssuer;

    /// <summary>The <c>aud</c> of minted tokens: the decision servers' <c>--token-audience</c>.</summary>
    public string Audience { get; init; } = AgentTokens.DefaultAudience;

    /// <summary>Lifetime of minted tokens, and the most a request may ask for (at most 15 minutes).</summary>
    public TimeSpan TokenLifetime { get; init; } = AgentToken.MaxLifetime;

    /// <summary>Authenticated requests allowed per org key id per <see cref="RateWindow"/>.</summary>
    public int PermitsPerKey { get; init; } = 60;

    /// <summary>Requests allowed per client IP per <see cref="RateWindow"/> (failed ones included: it slows guessing).</summary>
    public int PermitsPerClient { get; init; } = 120;

    public TimeSpan RateWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>What the operator's own verifiers (the approvals desk) require of agent tokens: what the token service mints.</summary>
    public static TokenExpectations Expectations(TokenServiceOptions? options) => new()
    {
        Issuer = options?.Issuer ?? AgentTokens.OperatorIssuer,
        Audience = options?.Audience ?? AgentTokens.DefaultAudience,
    };
}
