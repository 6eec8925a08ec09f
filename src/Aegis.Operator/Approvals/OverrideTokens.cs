using Aegis.Policy.Identity;
using Aegis.Policy.Resources;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Approvals;

/// <summary>
/// Mints the one-time override token of an approved ApprovalRequest. Every claim is derived from the object
/// (jti from its uid, iat from decidedAt), so each fetch, on any replica, yields a token with the same jti, and
/// the decision server's atomic jti consumption lets exactly one call through per approval.
/// </summary>
public sealed class OverrideTokens(ISigner signer, string issuer, string audience, TimeSpan lifetime)
{
    /// <summary>The token, or null when its lifetime since the approval has passed.</summary>
    public async Task<(string Token, DateTimeOffset ExpiresAt)?> MintAsync(ApprovalRequest request, DateTimeOffset decidedAt, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var expires = decidedAt + lifetime;
        if (expires <= now)
        {
            return null;
        }

        // Signed with the token key (never the bundle key), for the decision servers' audience.
        var token = await AgentTokens.MintAsync(signer, new TokenGrant
        {
            Issuer = issuer,
            Audience = audience,
            Tenant = request.Spec.Tenant,
            AgentId = request.Spec.AgentId,
            Extra = new Dictionary<string, object>
            {
                ["use"] = "once",
                ["tool"] = request.Spec.Tool,
                ["args_digest"] = request.Spec.ArgsDigest,
                ["jti"] = "approval-" + (request.Metadata.Uid ?? $"{request.Metadata.Namespace}-{request.Metadata.Name}"),
                ["approval"] = $"{request.Metadata.Namespace}/{request.Metadata.Name}",
            },
        }, decidedAt, lifetime, cancellationToken).ConfigureAwait(false);
        return (token, expires);
    }
}
