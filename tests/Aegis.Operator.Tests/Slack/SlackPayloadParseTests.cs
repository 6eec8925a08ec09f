using System.Text;
using Aegis.Operator.Slack;

namespace Aegis.Operator.Tests.Slack;

/// <summary>Interaction payloads found by fuzzing (tests/Aegis.Fuzz) that once threw: refused with the reason.</summary>
public class SlackPayloadParseTests
{
    [Theory]
    [InlineData("""[1,2]""", "payload is not a JSON object")]
    [InlineData("""{"type":"block_actions","user":"U1"}""", "payload.user.id is missing")]
    [InlineData("""{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"x","action_id":"y"}]}""", "payload is not JSON")]
    public void Parse_PayloadOfTheWrongShape_IsRefusedNotThrown(string payload, string error)
    {
        var body = Encoding.UTF8.GetBytes("payload=" + Uri.EscapeDataString(payload));

        Assert.Null(SlackInteractions.Parse(body, out var reason));
        Assert.Contains(error, reason, StringComparison.Ordinal);
    }
}
