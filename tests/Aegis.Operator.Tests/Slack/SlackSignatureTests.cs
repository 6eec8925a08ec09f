using System.Text;
using Aegis.Operator.Slack;

namespace Aegis.Operator.Tests.Slack;

public sealed class SlackSignatureTests
{
    // Slack's documented example (docs.slack.dev, "Verifying requests from Slack").
    private const string Secret = "8f742231b10e8888abcd99yyyzzz85a5";
    private const string Timestamp = "1531420618";
    private const string Body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    private const string Expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    private static readonly DateTimeOffset SentAt = DateTimeOffset.FromUnixTimeSeconds(1531420618);

    [Fact]
    public void Sign_SlacksDocumentedExample_MatchesTheirSignature() =>
        Assert.Equal(Expected, SlackSignature.Sign(Secret, Timestamp, Encoding.UTF8.GetBytes(Body)));

    [Fact]
    public void Check_ValidWithinWindow_Accepted() =>
        Assert.Null(SlackSignature.Check(Secret, Timestamp, Expected, Encoding.UTF8.GetBytes(Body), SentAt.AddSeconds(299)));

    [Theory]
    [InlineData(Body + "&x=1", 0, "does not match")]
    [InlineData(Body, 301, "more than 300 s")]
    [InlineData(Body, -301, "more than 300 s")]
    public void Check_TamperedOrOutsideWindow_Refused(string body, int secondsLater, string reason) =>
        Assert.Contains(reason, SlackSignature.Check(Secret, Timestamp, Expected, Encoding.UTF8.GetBytes(body), SentAt.AddSeconds(secondsLater)), StringComparison.Ordinal);

    [Theory]
    [InlineData(null, Expected)]
    [InlineData(Timestamp, null)]
    [InlineData("yesterday", Expected)]
    public void Check_MissingOrMalformedHeaders_Refused(string? timestamp, string? signature) =>
        Assert.NotNull(SlackSignature.Check(Secret, timestamp, signature, Encoding.UTF8.GetBytes(Body), SentAt));
}
