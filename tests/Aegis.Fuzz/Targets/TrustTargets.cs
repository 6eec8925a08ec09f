using System.Text;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;

namespace Aegis.Fuzz.Targets;

/// <summary>
/// What decision servers and the operator verify: bundles (gzip, tar, JSON, JWS signatures), agent tokens (compact
/// JWS/JWT) and key sets. Verification returns a rejection with its reason; the one exception named is
/// <see cref="FormatException"/> from <see cref="JsonWebKeySet.Parse"/>, its documented way to say "not a JWKS".
/// </summary>
internal static class TrustTargets
{
    public static void Bundle(byte[] input)
    {
        var host = FuzzHost.Instance;
        _ = new BundleVerifier(host.Keys).Verify(input, "acme");
        _ = host.Bundles.Offer("acme", input, "fuzz");
    }

    public static void Jwt(byte[] input)
    {
        var host = FuzzHost.Instance;
        var text = Encoding.UTF8.GetString(input);
        _ = AgentTokens.Verify(text, host.Keys, host.Time.GetUtcNow(), FuzzHost.Expected);
        _ = host.Tokens.Validate(text);
        _ = CompactJws.TryParse(text, out _, out _);
        try
        {
            _ = JsonWebKeySet.Parse(text).Find("k", KeyPurpose.Token);
        }
        catch (FormatException)
        {
        }
    }
}
