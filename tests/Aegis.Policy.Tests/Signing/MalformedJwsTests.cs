using System.Text;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Tests.Signing;

/// <summary>Tokens found by fuzzing (tests/Aegis.Fuzz) that once threw: each is a rejection with its reason.</summary>
public class MalformedJwsTests
{
    [Fact]
    public void Verify_HeaderWithInvalidUtf8InAString_IsMalformedNotThrown()
    {
        var header = Base64Url.Encode([.. "{\"alg\":\"EdDSA\",\"kid\":\""u8, 0xFF, .. "\"}"u8]);
        var token = $"{header}.{Base64Url.Encode("{}"u8)}.{Base64Url.Encode([1, 2, 3])}";

        var check = AgentTokens.Verify(token, new JsonWebKeySet([]), DateTimeOffset.UnixEpoch, Aegis.TestSupport.TestKeys.Expected);

        Assert.Equal(TokenRejection.Malformed, check.Reason);
        Assert.Contains("not UTF-8", check.Message, StringComparison.Ordinal);
    }
}
