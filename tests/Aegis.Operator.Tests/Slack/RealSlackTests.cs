using System.Text.Json.Nodes;
using Aegis.Operator.Slack;

namespace Aegis.Operator.Tests.Slack;

/// <summary>
/// The same client against the real Slack Web API. Runs where SLACK_BOT_TOKEN (scope chat:write) and
/// SLACK_CHANNEL (a channel id the bot is in) are set, such as the nightly CI job with the test workspace's
/// secrets; skips elsewhere, saying so.
/// </summary>
public sealed class RealSlackTests
{
    [Fact]
    public async Task PostThenUpdate_RealSlack_MessageAddressableByChannelAndTs()
    {
        var token = Environment.GetEnvironmentVariable("SLACK_BOT_TOKEN");
        var channel = Environment.GetEnvironmentVariable("SLACK_CHANNEL");
        if (string.IsNullOrEmpty(token) || string.IsNullOrEmpty(channel))
        {
            Assert.Skip("needs SLACK_BOT_TOKEN and SLACK_CHANNEL (a channel the bot is in); runs in CI's real-services job, not on developer machines");
        }

        using var http = new HttpClient();
        var slack = new SlackClient(http, SlackClient.SlackApi, token, TimeProvider.System);
        JsonArray blocks = [new JsonObject { ["type"] = "section", ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = "Aegis approval test" } }];

        var posted = await slack.PostMessageAsync(channel, "Aegis approval test", blocks);
        await slack.UpdateAsync(posted.Channel, posted.Ts, "Aegis approval test (updated)", blocks);
        var e = await Assert.ThrowsAsync<SlackException>(() => slack.PostMessageAsync("C00000000", "x", blocks));

        Assert.False(string.IsNullOrEmpty(posted.Ts));
        Assert.Equal("channel_not_found", e.Error);
    }
}
