using System.Text;
using Aegis.Decision.Calls;

namespace Aegis.Decision.Tests.Calls;

/// <summary>The MCP mapping of DESIGN.md "ToolServer": every method, ids of every JSON type, and every malformed body.</summary>
public class McpCallReaderTests
{
    private static ObservedCall Read(string body, string method = "POST", IDictionary<string, string>? headers = null) =>
        CallReader.Read(new ObservedRequest
        {
            Method = method,
            Authority = "mcp.stripe.com",
            Path = "/mcp",
            Headers = new Dictionary<string, string>(headers ?? new Dictionary<string, string>()),
            Body = Encoding.UTF8.GetBytes(body),
        }, CatalogFixture.Catalog);

    public static TheoryData<string, string, string?, string?, string?> Tools => new()
    {
        // body, expected tool, expected args (raw JSON), expected id (raw JSON), MCP method
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":5}}}""", "stripe.transfer", """{"amount":5}""", "1", "tools/call" },
        { """{"jsonrpc":"2.0","id":"abc","method":"tools/call","params":{"name":"balance.get"}}""", "stripe.balance.get", "{}", "\"abc\"", "tools/call" },
        { """{"jsonrpc":"2.0","id":-7,"method":"tools/call","params":{"name":"x_y-z","arguments":null}}""", "stripe.x_y-z", "{}", "-7", "tools/call" },
        { """{"jsonrpc":"2.0","id":12345678901234567890,"method":"tools/call","params":{"name":"t","arguments":{}}}""", "stripe.t", "{}", "12345678901234567890", "tools/call" },
        { """{"jsonrpc":"2.0","id":2.5,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":1}}}""", "stripe.t", "{}", "2.5", "tools/call" },
        { """{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}""", "stripe.resources.read", """{"uri":"file:///etc/passwd"}""", "3", "resources/read" },
        { """{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"refund","arguments":{"id":"1"}}}""", "stripe.prompts.get", """{"name":"refund","arguments":{"id":"1"}}""", "4", "prompts/get" },
    };

    [Theory]
    [MemberData(nameof(Tools))]
    public void Read_ToolCalls_AreTheToolWithItsArguments(string body, string tool, string? args, string? id, string? method)
    {
        using var call = Read(body);

        Assert.Equal(CallKind.Tool, call.Kind);
        Assert.Equal(tool, call.Tool);
        Assert.Equal(args, call.Args!.Value.GetRawText().Replace(" ", "", StringComparison.Ordinal));
        Assert.Equal(id, call.McpId);
        Assert.Equal(method, call.McpMethod);
        Assert.Equal("fin/stripe", call.Server!.Id);
    }

    public static TheoryData<string, string, ResponseHandling> Protocol => new()
    {
        { """{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}""", "initialize", ResponseHandling.None },
        { """{"jsonrpc":"2.0","id":"p","method":"ping"}""", "ping", ResponseHandling.None },
        { """{"jsonrpc":"2.0","method":"notifications/initialized"}""", "notifications/initialized", ResponseHandling.None },
        { """{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}""", "notifications/cancelled", ResponseHandling.None },
        { """{"jsonrpc":"2.0","id":9,"result":{"roots":[]}}""", "response", ResponseHandling.None },
        { """{"jsonrpc":"2.0","id":"s1","error":{"code":-1,"message":"no"}}""", "response", ResponseHandling.None },
        { """{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"cursor":"abc"}}""", "tools/list", ResponseHandling.FilterToolsList },
        { """{"jsonrpc":"2.0","id":6,"method":"resources/list"}""", "resources/list", ResponseHandling.None },
        { """{"jsonrpc":"2.0","id":7,"method":"prompts/list"}""", "prompts/list", ResponseHandling.None },
    };

    [Theory]
    [MemberData(nameof(Protocol))]
    public void Read_ProtocolMessages_PassWithoutATool(string body, string method, ResponseHandling response)
    {
        using var call = Read(body);

        Assert.Equal(CallKind.Protocol, call.Kind);
        Assert.Null(call.Tool);
        Assert.Equal(method, call.McpMethod);
        Assert.Equal(response, call.Response);
    }

    public static TheoryData<string, string, int, string?> Malformed => new()
    {
        // body, reason, JSON-RPC code, id echoed
        { "{not json", CallReasons.McpNotJsonRpc, -32700, "null" },
        { "", CallReasons.McpNotJsonRpc, -32700, "null" },
        { """[{"jsonrpc":"2.0","id":1,"method":"ping"}]""", CallReasons.McpBatch, -32600, "null" },
        { "\"tools/call\"", CallReasons.McpNotJsonRpc, -32600, "null" },
        { """{"id":1,"method":"tools/call","params":{"name":"t"}}""", CallReasons.McpNotJsonRpc, -32600, "1" },
        { """{"jsonrpc":"1.0","id":1,"method":"ping"}""", CallReasons.McpNotJsonRpc, -32600, "1" },
        { """{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}""", CallReasons.McpNotJsonRpc, -32600, "null" },
        { """{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"t"}}""", CallReasons.McpNotJsonRpc, -32600, "null" },
        { """{"jsonrpc":"2.0","id":1,"method":7}""", CallReasons.McpNotJsonRpc, -32600, "1" },
        { """{"jsonrpc":"2.0","id":1}""", CallReasons.McpNotJsonRpc, -32600, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call"}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a b"}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"../etc"}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[1]}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"x"}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":3}}""", CallReasons.McpParamsInvalid, -32602, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage"}""", CallReasons.McpMethodNotAllowed, -32601, "1" },
        { """{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}""", CallReasons.McpMethodNotAllowed, -32601, "1" },
        { """{"jsonrpc":"2.0","method":"tools/call","params":{"name":"t"}}""", CallReasons.McpMethodNotAllowed, -32601, null },

        // The parser differential: the upstream may read the first "amount", CEL the last.
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":1,"amount":99999}}}""", CallReasons.McpNotJsonRpc, -32700, "null" },
        { """{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}""", CallReasons.McpNotJsonRpc, -32700, "null" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Read_MalformedOrUnknown_RefusedWithANamedReasonAndTheJsonRpcCode(string body, string reason, int code, string? id)
    {
        using var call = Read(body);

        Assert.Equal(CallKind.Refused, call.Kind);
        Assert.Equal(reason, call.Reason);
        Assert.Equal(code, call.JsonRpcCode);
        Assert.Equal(id, call.McpId);
        Assert.False(string.IsNullOrEmpty(call.Message));
    }

    [Fact]
    public void Read_DeeplyNestedArguments_RefusedNotThrown()
    {
        var deep = string.Concat(Enumerable.Repeat("{\"a\":", 200)) + "1" + new string('}', 200);
        using var call = Read($$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{{{deep}}}}}""");

        Assert.Equal(CallReasons.McpNotJsonRpc, call.Reason);
    }

    [Theory]
    [InlineData("GET", "text/event-stream", CallKind.Protocol, null)]
    [InlineData("GET", "application/json", CallKind.Refused, CallReasons.McpRequestNotUnderstood)]
    [InlineData("DELETE", null, CallKind.Protocol, null)]
    [InlineData("PUT", null, CallKind.Refused, CallReasons.McpRequestNotUnderstood)]
    [InlineData("PATCH", null, CallKind.Refused, CallReasons.McpRequestNotUnderstood)]
    public void Read_OtherHttpMethods_OnlyTheEventStreamAndSessionEndPass(string method, string? accept, CallKind kind, string? reason)
    {
        using var call = Read("", method, accept is null ? null : new Dictionary<string, string> { ["accept"] = accept });

        Assert.Equal(kind, call.Kind);
        Assert.Equal(reason, call.Reason);
    }

    [Theory]
    [InlineData("mcp-method", "tools/list")]
    [InlineData("mcp-name", "refund")]
    public void Read_McpHeadersThatDisagreeWithTheBody_Refused(string header, string value)
    {
        // In the 2026-07-28 revision servers may route on these headers: a mismatch would decide one call and run another.
        using var call = Read("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer"}}""", headers: new Dictionary<string, string> { [header] = value });

        Assert.Equal(CallReasons.McpHeaderMismatch, call.Reason);
    }

    [Fact]
    public void Read_McpHeadersThatAgree_Accepted()
    {
        using var call = Read("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer"}}""",
            headers: new Dictionary<string, string> { ["mcp-method"] = "tools/call", ["mcp-name"] = "transfer" });

        Assert.Equal("stripe.transfer", call.Tool);
    }
}
