using System.Text;
using System.Text.Json;
using Aegis.Contracts.State;
using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Extensions.Filters.Http.ExtProc.V3;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Aegis.State;
using Aegis.TestSupport;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Phase = Aegis.Decision.Protos.Envoy.Service.ExtProc.V3.ProcessingResponse.ResponseOneofCase;

namespace Aegis.Decision.Tests;

/// <summary>
/// The answer side of ext_proc, driven as Envoy drives it after ext_authz allowed a call: MCP tools/list answers
/// filtered (JSON and SSE, pagination kept), LLM usage read off the answer and the reservation settled exactly once.
/// </summary>
public class ResponsePhaseTests
{
    private const string Yaml = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: fin }
        spec:
          tenant: acme
          rules:
            - { name: transfer, match: { tools: ["stripe.transfer"] }, effect: allow }
            - { name: payout, match: { tools: ["stripe.payout"] }, effect: deny }
            - { name: llm, match: { tools: ["openai.*"] }, effect: allow }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: b, namespace: fin }
        spec: { tenant: acme, daily: "1.00" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: fin }
        spec: { tenant: acme, protocol: mcp, url: "https://stripe.tools.test/mcp" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: openai, namespace: fin }
        spec:
          tenant: acme
          protocol: openai
          url: https://api.openai.com/v1
          models: [ { match: "gpt-4o*", inputPer1M: "2.50", outputPer1M: "10.00" } ]
        """;

    private const string ToolsList = """{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"cursor":"p1"}}""";
    private const string ToolsAnswer = """{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"transfer","inputSchema":{}},{"name":"payout","inputSchema":{}},{"name":"balance","inputSchema":{}}],"nextCursor":"p2"}}""";

    // 1,000 output tokens at 10.00 per million reserve 0.01 (plus the few input tokens at 2.50).
    private const string Chat = """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":1000}""";

    private static HeaderMap Map(params (string Key, string Value)[] headers)
    {
        var map = new HeaderMap();
        foreach (var (key, value) in headers)
        {
            map.Headers.Add(new HeaderValue { Key = key, RawValue = ByteString.CopyFromUtf8(value) });
        }

        return map;
    }

    private static CheckRequest Check(string token, string host, string path, string body)
    {
        var http = new AttributeContext.Types.HttpRequest { Method = "POST", Host = host, Path = path, Scheme = "http", Protocol = "HTTP/1.1", RawBody = ByteString.CopyFromUtf8(body) };
        http.Headers["authorization"] = "Bearer " + token;
        http.Headers["content-type"] = "application/json";
        return new CheckRequest { Attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } } };
    }

    private static ProcessingRequest RequestHeaders(string host, string path, Struct authz) => new()
    {
        RequestHeaders = new HttpHeaders { Headers = Map((":method", "POST"), (":authority", host), (":path", path), ("content-type", "application/json")), EndOfStream = false },
        MetadataContext = new Protos.Envoy.Config.Core.V3.Metadata { FilterMetadata = { ["envoy.filters.http.ext_authz"] = authz } },
    };

    private static ProcessingRequest ResponseHeaders(int status, string contentType) =>
        new() { ResponseHeaders = new HttpHeaders { Headers = Map((":status", status.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("content-type", contentType), ("content-length", "100")) } };

    private static ProcessingRequest ResponseBody(string body, bool end) =>
        new() { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(body), EndOfStream = end } };

    /// <summary>Runs one ext_proc stream, answer by answer, as Envoy does.</summary>
    private static async Task<List<ProcessingResponse>> ProcessAsync(ServerFixture f, params ProcessingRequest[] messages)
    {
        using var call = f.ExtProc.Process();
        var responses = new List<ProcessingResponse>();
        foreach (var message in messages)
        {
            await call.RequestStream.WriteAsync(message);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            responses.Add(call.ResponseStream.Current);
            if (call.ResponseStream.Current.ResponseCase == Phase.ImmediateResponse)
            {
                break;
            }
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        return responses;
    }

    private static List<string> ToolNames(ByteString body)
    {
        using var json = JsonDocument.Parse(body.Memory);
        return [.. json.RootElement.GetProperty("result").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()!)];
    }

    [Fact]
    public async Task ToolsList_JsonAnswer_FilteredToCallableToolsWithItsCursor()
    {
        await using var f = await ServerFixture.StartAsync(Yaml);
        var authz = await f.Client.CheckAsync(Check(await f.TokenAsync(), "stripe.tools.test", "/mcp", ToolsList));
        Assert.Equal("filter_tools_list", authz.DynamicMetadata.Fields["response"].StringValue);

        var responses = await ProcessAsync(f,
            RequestHeaders("stripe.tools.test", "/mcp", authz.DynamicMetadata),
            ResponseHeaders(200, "application/json"),
            ResponseBody(ToolsAnswer, end: true));

        Assert.Equal(ProcessingMode.Types.HeaderSendMode.Send, responses[0].ModeOverride.ResponseHeaderMode);
        Assert.Equal(ProcessingMode.Types.BodySendMode.Buffered, responses[1].ModeOverride.ResponseBodyMode);
        Assert.Equal(["content-length"], responses[1].ResponseHeaders.Response.HeaderMutation.RemoveHeaders);
        var filtered = responses[2].ResponseBody.Response.BodyMutation.Body;
        Assert.Equal(["transfer"], ToolNames(filtered));
        using var json = JsonDocument.Parse(filtered.Memory);
        Assert.Equal("p2", json.RootElement.GetProperty("result").GetProperty("nextCursor").GetString());
    }

    [Fact]
    public async Task ToolsList_EventStreamAnswer_FilteredChunkByChunk()
    {
        await using var f = await ServerFixture.StartAsync(Yaml);
        var authz = await f.Client.CheckAsync(Check(await f.TokenAsync(), "stripe.tools.test", "/mcp", ToolsList));
        var stream = "event: message\ndata: " + ToolsAnswer + "\n\n";
        var half = stream.Length / 2;

        var responses = await ProcessAsync(f,
            RequestHeaders("stripe.tools.test", "/mcp", authz.DynamicMetadata),
            ResponseHeaders(200, "text/event-stream"),
            ResponseBody(stream[..half], end: false),
            ResponseBody(stream[half..], end: true));

        Assert.Equal(ProcessingMode.Types.BodySendMode.Streamed, responses[1].ModeOverride.ResponseBodyMode);
        Assert.True(responses[2].ResponseBody.Response.BodyMutation.Body.IsEmpty, "half an event is held back until it is complete");
        var output = responses[3].ResponseBody.Response.BodyMutation.Body.ToStringUtf8();
        Assert.StartsWith("event: message\ndata: ", output, StringComparison.Ordinal);
        Assert.Equal(["transfer"], ToolNames(ByteString.CopyFromUtf8(output["event: message\ndata: ".Length..].Trim())));
    }

    [Fact]
    public async Task ToolsList_AnswerThatIsNeitherJsonNorEvents_Refused()
    {
        await using var f = await ServerFixture.StartAsync(Yaml);
        var authz = await f.Client.CheckAsync(Check(await f.TokenAsync(), "stripe.tools.test", "/mcp", ToolsList));

        var responses = await ProcessAsync(f, RequestHeaders("stripe.tools.test", "/mcp", authz.DynamicMetadata), ResponseHeaders(200, "text/html"));

        Assert.Equal("aegis_response_unprocessable", responses[1].ImmediateResponse.Details);
    }

    [Fact]
    public async Task Usage_JsonAnswer_SettlesTheReservationToWhatWasUsed()
    {
        var budgets = new InMemoryBudgetStore();
        await using var f = await ServerFixture.StartAsync(Yaml, state: new DecisionState(budgets, new InMemoryRateLimiter(), new InMemoryTokenIdStore()));
        var authz = await f.Client.CheckAsync(Check(await f.TokenAsync(), "api.openai.com", "/v1/chat/completions", Chat));
        var reserved = (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today;
        Assert.InRange(reserved, 0.01m, 0.0101m);

        await ProcessAsync(f,
            RequestHeaders("api.openai.com", "/v1/chat/completions", authz.DynamicMetadata),
            ResponseHeaders(200, "application/json"),
            ResponseBody("""{"object":"chat.completion","usage":{"prompt_tokens":100,"completion_tokens":100}}""", end: true));

        // 100 × 2.50 + 100 × 10.00 per million = 0.00125.
        Assert.Equal(0.00125m, (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today);
    }

    [Theory]
    [InlineData(500, "application/json", """{"error":{"message":"boom"}}""")]
    [InlineData(200, "application/json", """{"object":"chat.completion"}""")]
    [InlineData(200, "application/json", """{"object":"chat.completion","usage":{"prompt_tokens":"1"}}""")]
    [InlineData(200, "text/event-stream", "data: {\"object\":\"chat.completion.chunk\",\"choices\":[]}\n\n")]
    public async Task Usage_NoneObserved_TheReservationStands(int status, string contentType, string body)
    {
        var budgets = new InMemoryBudgetStore();
        await using var f = await ServerFixture.StartAsync(Yaml, state: new DecisionState(budgets, new InMemoryRateLimiter(), new InMemoryTokenIdStore()));
        var authz = await f.Client.CheckAsync(Check(await f.TokenAsync(), "api.openai.com", "/v1/chat/completions", Chat));
        var reserved = (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today;

        var messages = new List<ProcessingRequest> { RequestHeaders("api.openai.com", "/v1/chat/completions", authz.DynamicMetadata), ResponseHeaders(status, contentType) };
        if (status == 200)
        {
            messages.Add(ResponseBody(body, end: true));
        }

        await ProcessAsync(f, [.. messages]);

        Assert.Equal(reserved, (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today);
    }

    [Fact]
    public async Task Usage_SameAnswerSeenByTwoServersOnOneRedis_SettledExactlyOnce()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var stateA = await RedisState.ConnectAsync(redis.Configuration);
        await using var stateB = await RedisState.ConnectAsync(redis.Configuration);
        await using var a = await ServerFixture.StartAsync(Yaml, state: stateA.AsDecisionState());
        await using var b = await ServerFixture.StartAsync(Yaml, state: stateB.AsDecisionState(), shareKeysWith: a);
        var authz = await a.Client.CheckAsync(Check(await a.TokenAsync(), "api.openai.com", "/v1/chat/completions", Chat));
        var stream = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
            + "data: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":400,\"completion_tokens\":0}}\n\ndata: [DONE]\n\n";

        // Both replicas meter the same answer (a retried stream, say): the second settlement must change nothing.
        await Task.WhenAll(new[] { a, b }.Select(f => ProcessAsync(f,
            RequestHeaders("api.openai.com", "/v1/chat/completions", authz.DynamicMetadata),
            ResponseHeaders(200, "text/event-stream"),
            ResponseBody(stream[..40], end: false),
            ResponseBody(stream[40..], end: true))));

        Assert.Equal(0.001m, (await stateA.Budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today);
    }
}
