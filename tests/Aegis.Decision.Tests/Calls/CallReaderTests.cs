using System.Text;
using Aegis.Decision.Calls;

namespace Aegis.Decision.Tests.Calls;

/// <summary>Which requests are which calls: by host (a ToolServer's or not), then as the server's protocol says.</summary>
public class CallReaderTests
{
    private static ObservedCall Read(string method, string authority, string path, string body = "", bool tunnel = false) =>
        CallReader.Read(new ObservedRequest { Method = method, Authority = authority, Path = path, Body = Encoding.UTF8.GetBytes(body), Tunnel = tunnel }, CatalogFixture.Catalog);

    [Theory]
    [InlineData("api.stripe.com", CallKind.Egress, null)]
    [InlineData("evil.example.com", CallKind.Egress, null)]
    [InlineData("MCP.STRIPE.COM", CallKind.Tool, "fin/stripe")]
    [InlineData("mcp.stripe.com.", CallKind.Tool, "fin/stripe")]
    [InlineData("mcp.stripe.com:443", CallKind.Tool, "fin/stripe")]
    [InlineData("deploy-eu.acme.internal:8443", CallKind.Egress, "fin/deploy")]
    [InlineData("deploy-eu.acme.internal:9000", CallKind.Egress, null)]
    public void Read_ByHost_AToolServersHostIsReadInItsProtocolAndAnyOtherIsEgress(string authority, CallKind kind, string? server)
    {
        using var call = Read("POST", authority, "/mcp", """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}""");

        Assert.Equal(kind, call.Kind);
        Assert.Equal(server, call.Server?.Id);
    }

    [Theory]
    [InlineData("CONNECT", "mcp.stripe.com:443", false)]
    [InlineData("POST", "mcp.stripe.com:443", true)]
    [InlineData("CONNECT", "api.openai.com:443", false)]
    [InlineData("CONNECT", "deploy.acme.internal:443", false)]
    public void Read_TunnelToAToolServerHost_RefusedBecauseItsCallsCannotBeRead(string method, string authority, bool tunnel)
    {
        using var call = Read(method, authority, "", tunnel: tunnel);

        Assert.Equal(CallKind.Refused, call.Kind);
        Assert.Equal(CallReasons.ToolServerRequiresInspection, call.Reason);
    }

    [Fact]
    public void Read_TunnelElsewhere_IsEgress()
    {
        using var call = Read("CONNECT", "example.com:443", "");

        Assert.Equal(CallKind.Egress, call.Kind);
    }

    [Fact]
    public void Read_BodyOverTheCap_Refused()
    {
        using var call = Read("POST", "mcp.stripe.com", "/mcp", new string(' ', CallReader.MaxBodyBytes + 1));

        Assert.Equal(CallReasons.BodyTooLarge, call.Reason);
    }

    public static TheoryData<string, string, string, string?, long?, long?, bool> Llm => new()
    {
        // authority, path, body, tool, input tokens (null: any > 0), output limit, streams
        { "api.openai.com", "/v1/chat/completions", """{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}],"max_completion_tokens":50}""", "openai.chat.completions", null, 50, false },
        { "api.openai.com", "/v1/chat/completions", """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":20,"n":3,"stream":true}""", "openai.chat.completions", null, 60, true },
        { "api.openai.com", "/v1/chat/completions", """{"model":"gpt-4o","messages":[]}""", "openai.chat.completions", 0, 1000, false },
        { "api.openai.com", "/v1/responses", """{"model":"gpt-4o","input":"write a poem","max_output_tokens":300}""", "openai.responses", null, 300, false },
        { "api.openai.com", "/v1/embeddings", """{"model":"text-embedding-3-small","input":["a","b"]}""", "openai.embeddings", null, 0, false },
        { "api.anthropic.com", "/v1/messages", """{"model":"claude-sonnet-4","max_tokens":1024,"system":"be brief","messages":[{"role":"user","content":[{"type":"text","text":"hello"}]}]}""", "anthropic.messages", null, 1024, false },
    };

    [Theory]
    [MemberData(nameof(Llm))]
    public void Read_LlmRequests_AreTheOperationWithTheModelTokensAndOutputLimit(string authority, string path, string body, string? tool, long? input, long? output, bool streams)
    {
        using var call = Read("POST", authority, path, body);

        Assert.Equal(CallKind.Tool, call.Kind);
        Assert.Equal(tool, call.Tool);
        Assert.Equal(ResponseHandling.MeterUsage, call.Response);
        Assert.Equal(output, call.Llm!.MaxOutputTokens);
        Assert.Equal(streams, call.Streams);
        if (input is { } exact)
        {
            Assert.Equal(exact, call.Llm.InputTokens);
        }
        else
        {
            Assert.InRange(call.Llm.InputTokens, 1, 100);
        }
    }

    [Fact]
    public void Read_LlmInputTokens_GrowWithTheTextAndMediaCountsAsAFixedAllowance()
    {
        var text = string.Join(' ', Enumerable.Repeat("governance", 500));
        using var small = Read("POST", "api.openai.com", "/v1/chat/completions", """{"model":"gpt-4o","messages":[{"role":"user","content":"governance"}]}""");
        using var large = Read("POST", "api.openai.com", "/v1/chat/completions", $$"""{"model":"gpt-4o","messages":[{"role":"user","content":"{{text}}"}]}""");
        var image = "data:image/png;base64," + Convert.ToBase64String(new byte[300_000]);
        using var media = Read("POST", "api.openai.com", "/v1/chat/completions", $$$"""{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"{{{image}}}"}}]}]}""");

        Assert.InRange(large.Llm!.InputTokens, 500, 1100);
        Assert.True(small.Llm!.InputTokens < 10, $"{small.Llm.InputTokens}");
        Assert.InRange(media.Llm!.InputTokens, TokenCounter.MediaTokens, TokenCounter.MediaTokens + 20);
    }

    [Theory]
    [InlineData("""{"messages":[]}""")]
    [InlineData("""{"model":"","messages":[]}""")]
    [InlineData("""{"model":"gpt-4o","max_tokens":0}""")]
    [InlineData("""{"model":"gpt-4o","max_tokens":"100"}""")]
    [InlineData("""{"model":"gpt-4o","max_completion_tokens":1.5}""")]
    [InlineData("""{"model":"gpt-4o","n":0}""")]
    [InlineData("""{"model":"gpt-4o","n":1000}""")]
    [InlineData("[1]")]
    [InlineData("model=gpt-4o")]
    [InlineData("")]
    public void Read_MalformedLlmRequest_RefusedWithANamedReason(string body)
    {
        using var call = Read("POST", "api.openai.com", "/v1/chat/completions", body);

        Assert.Equal(CallReasons.LlmRequestMalformed, call.Reason);
    }

    [Theory]
    [InlineData("GET", "/v1/models", "openai.models")]
    [InlineData("POST", "/v1/images/generations", "openai.images.generations")]
    [InlineData("GET", "/v1/files/file-abc/content", "openai.files.file-abc.content")]
    [InlineData("POST", "/v1/", "openai.root")]
    public void Read_OtherLlmOperations_AreToolsWithoutMetering(string method, string path, string tool)
    {
        using var call = Read(method, "api.openai.com", path, method == "POST" ? """{"model":"dall-e-3","prompt":"x"}""" : "");

        Assert.Equal(tool, call.Tool);
        Assert.Null(call.Llm);
        Assert.Equal(ResponseHandling.None, call.Response);
    }

    [Theory]
    [InlineData("/v1/chat/completions", "/v1", "chat.completions")]
    [InlineData("/v1/chat/completions", "", "chat.completions")]
    [InlineData("/openai/v2/chat/completions", "/openai", "chat.completions")]
    [InlineData("/v1x/chat", "/v1", "v1x.chat")]
    [InlineData("/a/b%2Fc", "", "a.b_2Fc")]
    public void Operation_BelowTheBasePathWithoutAVersion_SegmentsJoinedWithDots(string path, string basePath, string operation) =>
        Assert.Equal(operation, LlmCallReader.Operation(path, basePath));

    [Theory]
    [InlineData("GET", "/v1/deployments/web/logs?since=1h&container=a&container=b", "deploy.logs", """{"since":"1h","container":["a","b"]}""")]
    [InlineData("POST", "/v1/deployments", "deploy.create", """{"image":"x@sha256:1"}""")]
    public void Read_HttpOperations_AreTheirToolWithBodyOrQueryArguments(string method, string path, string tool, string args)
    {
        using var call = Read(method, "deploy.acme.internal", path, method == "POST" ? """{"image":"x@sha256:1"}""" : "");

        Assert.Equal(CallKind.Tool, call.Kind);
        Assert.Equal(tool, call.Tool);
        Assert.Equal(args, call.Args!.Value.GetRawText());
        Assert.Equal(method == "GET", call.ArgsInQuery);
    }

    [Theory]
    [InlineData("DELETE", "/v1/deployments/web")]
    [InlineData("GET", "/v1/deployments")]
    [InlineData("POST", "/v1/deployments/web/logs")]
    public void Read_HttpRequestsThatAreNoOperation_AreEgressOfThatServer(string method, string path)
    {
        using var call = Read(method, "deploy.acme.internal", path);

        Assert.Equal(CallKind.Egress, call.Kind);
        Assert.Equal("fin/deploy", call.Server?.Id);
        Assert.Null(call.Tool);
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("{bad")]
    [InlineData("""{"a":1,"a":2}""")]
    public void Read_HttpOperationBodyThatIsNoObject_Refused(string body)
    {
        using var call = Read("POST", "deploy.acme.internal", "/v1/deployments", body);

        Assert.Equal(CallReasons.OperationArgsInvalid, call.Reason);
    }
}
