using System.Text;
using Aegis.Decision.Calls;

namespace Aegis.Decision.Tests.Calls;

/// <summary>Inputs found by fuzzing (tests/Aegis.Fuzz) that once threw: each now comes back as a named outcome.</summary>
public class MalformedWireInputTests
{
    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{"tools":[]},"result":{"tools":[{"name":"hidden"}]}}""")]
    public void ToolsListFilter_AnswerWithAMemberNamedTwice_IsNotFilteredAndDoesNotThrow(string body)
    {
        var filter = new ToolsListFilter("1", _ => false);

        Assert.Null(filter.FilterJson(Encoding.UTF8.GetBytes(body)));
        var raw = Encoding.UTF8.GetBytes("data: " + body + "\n\n");
        Assert.Equal(raw, filter.FilterEvent(new SseEvent(raw, null, body, null)));
    }

    public static TheoryData<string, string, string, string> InvalidUtf8Bodies => new()
    {
        // authority, path, JSON whose string holds the byte 0xFF where # stands, expected reason
        { "mcp.stripe.com", "/mcp", """{"jsonrpc":"2.0","id":1,"method":"tools/#call","params":{"name":"t"}}""", CallReasons.McpNotJsonRpc },
        { "api.openai.com", "/v1/chat/completions", """{"model":"gpt-#","messages":[]}""", CallReasons.LlmRequestMalformed },
        { "deploy.acme.internal", "/v1/deployments", """{"name":"#"}""", CallReasons.OperationArgsInvalid },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8Bodies))]
    public void Read_BodyWithInvalidUtf8InAString_IsRefusedAsMalformedNotThrown(string authority, string path, string json, string reason)
    {
        var body = Replace(Encoding.UTF8.GetBytes(json), "#"u8.ToArray(), [0xFF]);

        using var call = CallReader.Read(new ObservedRequest { Method = "POST", Authority = authority, Path = path, Body = body }, CatalogFixture.Catalog);

        Assert.Equal((CallKind.Refused, reason), (call.Kind, call.Reason));
        Assert.Contains("not valid UTF-8", call.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToolsListFilter_AnswerWithInvalidUtf8InAToolName_IsNotFilteredAndDoesNotThrow()
    {
        var body = Replace("""{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"secret#"}]}}"""u8.ToArray(), "#"u8.ToArray(), [0xFF]);

        Assert.Null(new ToolsListFilter("1", _ => true).FilterJson(body));
    }

    private static byte[] Replace(byte[] text, byte[] what, byte[] with)
    {
        var at = text.AsSpan().IndexOf(what);
        return at < 0 ? text : [.. text.AsSpan(0, at), .. with, .. text.AsSpan(at + what.Length)];
    }
}
