using System.Net;
using System.Text;
using System.Text.Json;

namespace Aegis.Decision.Tests;

/// <summary>Bodies of POST /v1/decide that are not inputs: refused with request_malformed and the reason, never a 500.</summary>
public class DecisionApiBodyTests
{
    public static TheoryData<string, string> Malformed => new()
    {
        { """{"tool":"stripe.transfer","args":{"amount":1,"amount":99999}}""", "not valid JSON" },
        { new string('[', 65) + new string(']', 65), "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Decide_MalformedBody_400RequestMalformed(string body, string message)
    {
        await using var f = await ServerFixture.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", await f.TokenAsync());

        using var response = await f.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("request_malformed", problem.GetProperty("reason").GetString());
        Assert.Contains(message, problem.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decide_ChunkedBodyOverTheLimit_413WithoutReadingItAll()
    {
        await using var f = await ServerFixture.StartAsync();
        var padding = new string(' ', Api.DecisionApi.MaxBodyBytes);
        using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("""{"tool":"x","pad":" """ + padding + "\"}")));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await f.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains(Api.DecisionApi.BodyTooLarge, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decide_InvalidUtf8InAString_400RequestMalformed()
    {
        await using var f = await ServerFixture.StartAsync();
        var body = Encoding.UTF8.GetBytes("""{"tool":"stripe.transfer","cost":"1#"}""");
        body[Array.IndexOf(body, (byte)'#')] = 0xFF;
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = content };
        request.Headers.Authorization = new("Bearer", await f.TokenAsync());

        using var response = await f.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not valid UTF-8", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
