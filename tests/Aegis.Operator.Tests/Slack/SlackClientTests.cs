using System.Text.Json.Nodes;
using Aegis.Operator.Slack;
using Aegis.TestSupport.Slack;

namespace Aegis.Operator.Tests.Slack;

/// <summary>SlackClient against the strict in-process Slack Web API.</summary>
public sealed class SlackClientTests
{
    private static readonly JsonArray Blocks = [new JsonObject { ["type"] = "section", ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = "hi" } }];

    private static async Task<(SlackTestServer Server, SlackClient Client, HttpClient Http)> StartAsync(string? token = null)
    {
        var server = await SlackTestServer.StartAsync();
        server.AddChannel("C0APPROVE", "approvals");
        var http = new HttpClient();
        return (server, new SlackClient(http, server.ApiUrl, token ?? server.BotToken, TimeProvider.System), http);
    }

    [Fact]
    public async Task PostMessage_ChannelName_PostedAndAddressedByChannelIdAndTs()
    {
        var (server, client, http) = await StartAsync();
        await using var _ = server;
        using var __ = http;

        var posted = await client.PostMessageAsync("#approvals", "hi", Blocks);
        await client.UpdateAsync(posted.Channel, posted.Ts, "bye", Blocks);

        Assert.Equal("C0APPROVE", posted.Channel);
        Assert.Equal("bye", Assert.Single(server.Messages).Text);
    }

    [Fact]
    public async Task PostMessage_RateLimitedTwice_WaitsRetryAfterAndSucceeds()
    {
        var (server, client, http) = await StartAsync();
        await using var _ = server;
        using var __ = http;
        server.RateLimitNext(2, retryAfterSeconds: 1);
        var started = DateTimeOffset.UtcNow;

        await client.PostMessageAsync("C0APPROVE", "hi", Blocks);

        Assert.True(DateTimeOffset.UtcNow - started >= TimeSpan.FromSeconds(1.9), "Retry-After was not honoured");
        Assert.Equal(["chat.postMessage:ratelimited", "chat.postMessage:ratelimited", "chat.postMessage"], server.Calls.ToArray());
    }

    [Fact]
    public async Task PostMessage_RateLimitedBeyondRetries_ThrowsRatelimited()
    {
        var (server, client, http) = await StartAsync();
        await using var _ = server;
        using var __ = http;
        server.RateLimitNext(10, retryAfterSeconds: 120);

        var e = await Assert.ThrowsAsync<SlackException>(() => client.PostMessageAsync("C0APPROVE", "hi", Blocks));

        Assert.StartsWith("ratelimited", e.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("#nowhere", null, "channel_not_found")]
    [InlineData("C0APPROVE", "xoxb-wrong", "invalid_auth")]
    public async Task PostMessage_SlackSaysNotOk_ThrowsWithSlacksError(string channel, string? token, string error)
    {
        var (server, client, http) = await StartAsync(token);
        await using var _ = server;
        using var __ = http;

        var e = await Assert.ThrowsAsync<SlackException>(() => client.PostMessageAsync(channel, "hi", Blocks));

        Assert.Equal(error, e.Error);
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task Update_UnknownTs_ThrowsMessageNotFound()
    {
        var (server, client, http) = await StartAsync();
        await using var _ = server;
        using var __ = http;

        var e = await Assert.ThrowsAsync<SlackException>(() => client.UpdateAsync("C0APPROVE", "1.000001", "x", Blocks));

        Assert.Equal("message_not_found", e.Error);
    }
}
