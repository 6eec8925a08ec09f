using System.Text.Json;
using Aegis.Policy.Identity;

namespace Aegis.Decision.Tests;

/// <summary>One-time override tokens in x-aegis-override: the exact approved call is allowed once.</summary>
public class OverrideTests
{
    private const string LargeTransfer = """{"amount": 9000, "currency": "USD"}""";

    private static string Digest(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return AgentTokens.ArgsDigest(doc.RootElement);
    }

    private static Task<string> OverrideAsync(ServerFixture f, string args = LargeTransfer, string tool = "stripe.transfer", string agent = "payments-bot", string use = "once") =>
        f.TokenAsync(agent: agent, extra: new Dictionary<string, object> { ["use"] = use, ["tool"] = tool, ["args_digest"] = Digest(args) });

    [Fact]
    public async Task Override_ExactCall_AllowedOnceThenReplayDenied()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();
        var grant = await OverrideAsync(f);
        var headers = new Dictionary<string, string> { ["x-aegis-override"] = grant };

        // Same arguments in another key order and spacing: the digest is over canonical JSON.
        var first = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{ "currency":"USD", "amount":9000 }""", headers: headers));
        var second = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", LargeTransfer, headers: headers));

        Assert.Equal(0, first.Status.Code);
        Assert.Contains("x-aegis-override", first.OkResponse.HeadersToRemove);
        Assert.Equal("override_replayed", second.Status.Message);
        Assert.Equal(7, second.Status.Code);
    }

    [Theory]
    [InlineData("other args", "approved for other arguments")]
    [InlineData("other tool", "for tool \"stripe.refund\"")]
    [InlineData("other agent", "for agent \"payments-2\"")]
    [InlineData("not single use", "not single-use")]
    public async Task Override_ForAnotherCall_Denied(string variant, string message)
    {
        await using var f = await ServerFixture.StartAsync();
        var grant = variant switch
        {
            "other args" => await OverrideAsync(f, args: """{"amount": 9001, "currency": "USD"}"""),
            "other tool" => await OverrideAsync(f, tool: "stripe.refund"),
            "other agent" => await OverrideAsync(f, agent: "payments-2"),
            _ => await OverrideAsync(f, use: "many"),
        };

        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", LargeTransfer,
            headers: new Dictionary<string, string> { ["x-aegis-override"] = grant }));

        // The MCP client reads the refusal as a tool result whose text names why.
        Assert.Equal("override_invalid", response.Status.Message);
        using var body = JsonDocument.Parse(response.DeniedResponse.Body);
        Assert.Contains(message, body.RootElement.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Override_OnACallThatNeedsNoApproval_IsIgnoredAndNotConsumed()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();
        var grant = await OverrideAsync(f);

        var small = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 5}""",
            headers: new Dictionary<string, string> { ["x-aegis-override"] = grant }));
        var large = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", LargeTransfer,
            headers: new Dictionary<string, string> { ["x-aegis-override"] = grant }));

        Assert.Equal(0, small.Status.Code);
        Assert.Equal(0, large.Status.Code);
    }

    [Fact]
    public void ArgsDigest_IsOrderInsensitiveAndMatchesTheCanonicalForm()
    {
        Assert.Equal(Digest("""{"b":1,"a":[1,2]}"""), Digest("""{ "a": [1, 2], "b": 1 }"""));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("""{"a":[1,2],"b":1}"""u8.ToArray())), Digest("""{"b":1,"a":[1,2]}"""));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("{}"u8.ToArray())), AgentTokens.ArgsDigest(null));
    }
}
