using System.Text;
using System.Text.Json;
using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Aegis.Decision.Protos.Envoy.Type.V3;
using Aegis.Contracts.State;
using Aegis.State;
using Aegis.Policy.Identity;
using Aegis.TestSupport;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using GrpcStatusCode = Grpc.Core.StatusCode;
using Phase = Aegis.Decision.Protos.Envoy.Service.ExtProc.V3.ProcessingResponse.ResponseOneofCase;

namespace Aegis.Decision.Tests;

/// <summary>
/// Envoy's ext_proc stream through the real gRPC client against a running server, message by message as Envoy sends
/// them in BUFFERED mode: request headers, the whole body, trailers, then the response phases.
/// </summary>
public class ExtProcTests
{
    private const string Policies = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: care, namespace: health }
        spec:
          tenant: acme
          rules:
            - name: phi
              match: { tools: ["ehr.*"] }
              effect: sanitize
              redact:
                - detector: us_ssn
                - detector: email
                - pattern: "MRN-[0-9]{8}"
                  replacement: "[MRN]"
            - name: llm
              match: { egress: { hosts: ["api.openai.com"] } }
              effect: sanitize
              redact: [ { detector: email } ]
            - { name: lookup, match: { tools: ["crm.lookup"] }, effect: allow }
            - { name: payout, match: { tools: ["stripe.payout"] }, effect: deny }
            - name: large
              match: { tools: ["stripe.transfer"] }
              when: "args.amount > 5000.0"
              effect: approval_needed
              approval: { approvers: ["group:finance"] }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: care, namespace: health }
        spec:
          tenant: acme
          daily: "1.00"
          rateLimit: { requestsPerMinute: 60, burst: 3 }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: ehr, namespace: health }
        spec:
          tenant: acme
          protocol: mcp
          url: https://ehr.tools.test/mcp
          prices: [ { tools: ["ehr.*"], perCall: "0.30" } ]
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: crm, namespace: health }
        spec: { tenant: acme, protocol: mcp, url: "https://crm.tools.test/mcp" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: health }
        spec: { tenant: acme, protocol: mcp, url: "https://stripe.tools.test/mcp" }
        """;

    private const string Patient = """{"patient":"Jane Roe","ssn":"123-45-6789","contact":"jane@example.com","note":"MRN-12345678 seen","visits":3,"tags":["a","b"]}""";

    private const string LargeTransfer = """{"amount": 9000, "currency": "USD"}""";

    /// <summary>What goes on the wire for <paramref name="tool"/> with <paramref name="args"/>: an MCP tools/call envelope; for egress the body itself.</summary>
    private static string Wire(string? tool, string args) =>
        tool is null ? args : WireCalls.ToolsCall(WireCalls.Split(tool).Name, args.Length == 0 ? null : args);

    /// <summary>Request headers as Envoy reports them: pseudo-headers, lower-case names, values in raw_value (or value).</summary>
    private static ProcessingRequest RequestHeaders(string? token, string? tool, string args, string host = "tools.internal", bool rawValues = true, Struct? authz = null, IDictionary<string, string>? extra = null)
    {
        var body = Wire(tool, args);
        var headers = new Dictionary<string, string>
        {
            [":method"] = "POST",
            [":authority"] = tool is null ? host : WireCalls.HostFor(WireCalls.Split(tool).Server),
            [":path"] = tool is null ? "/call" : WireCalls.McpPath,
            [":scheme"] = "http",
            ["content-type"] = "application/json",
            ["content-length"] = Encoding.UTF8.GetByteCount(body).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (token is not null)
        {
            headers["authorization"] = "Bearer " + token;
        }

        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            headers[k] = v;
        }

        var map = new HeaderMap();
        foreach (var (k, v) in headers)
        {
            map.Headers.Add(rawValues ? new HeaderValue { Key = k, RawValue = ByteString.CopyFromUtf8(v) } : new HeaderValue { Key = k, Value = v });
        }

        var request = new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = map } };
        if (authz is not null)
        {
            request.MetadataContext = new Metadata();
            request.MetadataContext.FilterMetadata["envoy.filters.http.ext_authz"] = authz;
        }

        return request;
    }

    private static ProcessingRequest RequestBody(string body, bool endOfStream = true) =>
        new() { RequestBody = new HttpBody { Body = ByteString.CopyFromUtf8(body), EndOfStream = endOfStream } };

    /// <summary>The request body carrying <paramref name="args"/> for <paramref name="tool"/> as <see cref="Wire"/> frames it.</summary>
    private static ProcessingRequest RequestBody(string tool, string args, bool endOfStream = true) => RequestBody(Wire(tool, args), endOfStream);

    /// <summary>Sends each message and waits for its answer, as Envoy does, stopping at a local reply; the call must end OK.</summary>
    private static async Task<List<ProcessingResponse>> ProcessAsync(ServerFixture f, IEnumerable<ProcessingRequest> messages, Grpc.Core.Metadata? grpcHeaders = null)
    {
        using var call = f.ExtProc.Process(grpcHeaders);
        var responses = new List<ProcessingResponse>();
        foreach (var message in messages)
        {
            await call.RequestStream.WriteAsync(message);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), $"no answer to {message.RequestCase}");
            responses.Add(call.ResponseStream.Current);
            if (call.ResponseStream.Current.ResponseCase == Phase.ImmediateResponse)
            {
                break;
            }
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None), "an answer nobody asked for");
        Assert.Equal(GrpcStatusCode.OK, call.GetStatus().StatusCode);
        return responses;
    }

    /// <summary>The reason of a refusal: from the Aegis JSON body, or the data of a JSON-RPC answer to an MCP request.</summary>
    private static string Reason(ProcessingResponse response)
    {
        using var body = JsonDocument.Parse(response.ImmediateResponse.Body.ToStringUtf8());
        var root = body.RootElement;
        if (root.TryGetProperty("jsonrpc", out _))
        {
            return (root.TryGetProperty("error", out var error) ? error.GetProperty("data") : root.GetProperty("result").GetProperty("_meta").GetProperty("aegis.dev/decision"))
                .GetProperty("reason").GetString()!;
        }

        return root.GetProperty("reason").GetString()!;
    }

    /// <summary>The effect the JSON API decides for the call, so a table row's premise is checked, not assumed.</summary>
    private static async Task<string> EffectAsync(ServerFixture f, string token, string tool, string body)
    {
        var input = body.Length > 0 ? $$"""{"tool":"{{tool}}","args":{{body}}}""" : $$"""{"tool":"{{tool}}"}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = new StringContent(input, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await f.Http.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("effect").GetString()!;
    }

    private static void AssertUntouched(BodyResponse body)
    {
        Assert.Null(body.Response.BodyMutation);
        Assert.Null(body.Response.HeaderMutation);
        Assert.Equal(CommonResponse.Types.ResponseStatus.Continue, body.Response.Status);
    }

    [Theory]
    [InlineData("authorization", true)]
    [InlineData("x-aegis-token", false)]
    [InlineData("ext_authz metadata", true)]
    public async Task Process_SanitizeToolCall_BodyRedactedAndContentLengthSet(string tokenIn, bool rawValues)
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var token = await f.TokenAsync();
        var headers = tokenIn switch
        {
            "authorization" => RequestHeaders(token, "ehr.read", Patient, rawValues: rawValues),
            "x-aegis-token" => RequestHeaders(null, "ehr.read", Patient, rawValues: rawValues, extra: new Dictionary<string, string> { ["x-aegis-token"] = token }),

            // Behind ext_authz the token is gone from the request; Envoy forwards ext_authz's metadata instead.
            _ => RequestHeaders(null, "ehr.read", Patient, rawValues: rawValues,
                authz: (await f.Client.CheckAsync(ServerFixture.Check(token, "ehr.read", Patient))).DynamicMetadata),
        };

        var responses = await ProcessAsync(f, [headers, RequestBody("ehr.read", Patient)]);

        Assert.Equal([Phase.RequestHeaders, Phase.RequestBody], responses.Select(r => r.ResponseCase));
        var common = responses[1].RequestBody.Response;
        var replaced = common.BodyMutation.Body;
        using var json = JsonDocument.Parse(replaced.Memory);
        Assert.Equal("tools/call", json.RootElement.GetProperty("method").GetString());
        var root = json.RootElement.GetProperty("params").GetProperty("arguments");
        Assert.Equal("[REDACTED:us_ssn]", root.GetProperty("ssn").GetString());
        Assert.Equal("[REDACTED:email]", root.GetProperty("contact").GetString());
        Assert.Equal("[MRN] seen", root.GetProperty("note").GetString());
        Assert.Equal("Jane Roe", root.GetProperty("patient").GetString());
        Assert.Equal(3, root.GetProperty("visits").GetInt32());
        Assert.Equal(["a", "b"], root.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));

        var length = Assert.Single(common.HeaderMutation.SetHeaders);
        Assert.Equal("content-length", length.Header.Key);
        Assert.Equal(replaced.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), rawValues ? length.Header.RawValue.ToStringUtf8() : length.Header.Value);
        Assert.True(rawValues ? length.Header.Value.Length == 0 : length.Header.RawValue.IsEmpty, "Envoy refuses a header that sets both value and raw_value");
    }

    [Theory]
    [InlineData("allow", "crm.lookup", """{"q":"jane@example.com"}""")]
    [InlineData("deny", "stripe.payout", """{"to":"jane@example.com"}""")]
    [InlineData("approval_needed", "stripe.transfer", LargeTransfer)]
    [InlineData("sanitize, nothing to redact", "ehr.read", """{"patient":"Jane Roe"}""")]
    [InlineData("sanitize, empty body", "ehr.read", "")]
    public async Task Process_NothingToRedact_EveryPhaseAnsweredUntouched(string effect, string tool, string body)
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var token = await f.TokenAsync();
        Assert.Equal(effect.Split(',')[0], await EffectAsync(f, token, tool, body));
        var messages = new[]
        {
            RequestHeaders(token, tool, body),
            RequestBody(tool, body, endOfStream: false),
            new ProcessingRequest { RequestTrailers = new HttpTrailers { Trailers = new HeaderMap() } },
            new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = new HeaderMap() } },
            new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8("""{"ok":true}"""), EndOfStream = false } },
            new ProcessingRequest { ResponseTrailers = new HttpTrailers { Trailers = new HeaderMap() } },
        };

        var responses = await ProcessAsync(f, messages);

        Assert.Equal([Phase.RequestHeaders, Phase.RequestBody, Phase.RequestTrailers, Phase.ResponseHeaders, Phase.ResponseBody, Phase.ResponseTrailers], responses.Select(r => r.ResponseCase));
        AssertUntouched(responses[1].RequestBody);
        AssertUntouched(responses[4].ResponseBody);
        Assert.Null(responses[0].RequestHeaders.Response.HeaderMutation);
    }

    [Fact]
    public async Task Process_EgressSanitizeJsonBody_Redacted()
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        const string body = """{"messages":[{"role":"user","content":"mail jane@example.com"}]}""";

        var responses = await ProcessAsync(f, [RequestHeaders(await f.TokenAsync(), null, body, host: "api.openai.com"), RequestBody(body)]);

        using var json = JsonDocument.Parse(responses[1].RequestBody.Response.BodyMutation.Body.Memory);
        Assert.Equal("mail [REDACTED:email]", json.RootElement.GetProperty("messages")[0].GetProperty("content").GetString());
        Assert.Equal("user", json.RootElement.GetProperty("messages")[0].GetProperty("role").GetString());
    }

    [Theory]
    [InlineData("api.openai.com", "mail jane@example.com", 403, "redaction_unavailable")]
    [InlineData("ehr.tools.test", "ssn=123-45-6789", 200, "mcp_not_jsonrpc")]
    [InlineData("ehr.tools.test", "[1, 2]", 200, "mcp_batch_not_supported")]
    public async Task Process_SanitizeBodyThatCannotBeRedacted_RefusedWithJsonReason(string host, string body, int status, string reason)
    {
        await using var f = await ServerFixture.StartAsync(Policies);

        // The body is sent as is: for the MCP server's host, not JSON-RPC.
        var headers = RequestHeaders(await f.TokenAsync(), null, body, host: host);
        var responses = await ProcessAsync(f, [headers, RequestBody(body)]);

        var refusal = responses[^1].ImmediateResponse;
        Assert.Equal(status, (int)refusal.Status.Code);
        Assert.Equal(reason, Reason(responses[^1]));
        Assert.Contains(refusal.Headers.SetHeaders, h => h.Header.Key == "content-type" && h.Header.RawValue.ToStringUtf8() == "application/json");
        Assert.Equal("aegis_" + reason, refusal.Details);
    }

    [Theory]
    [InlineData(null, 401, "token_missing")]
    [InlineData("not-a-jwt", 401, "token_missing")]
    [InlineData("not.a.jwt", 401, "token_malformed")]
    public async Task Process_NoOrBadToken_RefusedBecauseTheRedactionsAreUnknown(string? token, int status, string reason)
    {
        await using var f = await ServerFixture.StartAsync(Policies);

        var responses = await ProcessAsync(f, [RequestHeaders(token, "crm.lookup", "{}"), RequestBody("crm.lookup", "{}")]);

        Assert.Equal(status, (int)responses[1].ImmediateResponse.Status.Code);
        Assert.Equal(reason, Reason(responses[1]));
    }

    [Fact]
    public async Task Process_NoBody_HeadersContinueWithoutDeciding()
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var headers = RequestHeaders(null, "ehr.read", "");
        headers.RequestHeaders.EndOfStream = true;

        var responses = await ProcessAsync(f, [headers]);

        Assert.Equal(Phase.RequestHeaders, Assert.Single(responses).ResponseCase);
    }

    [Theory]
    [InlineData("body before headers")]
    [InlineData("empty message")]
    public async Task Process_MalformedStream_403NotAnException(string variant)
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var message = variant == "empty message" ? new ProcessingRequest() : RequestBody(Patient);

        var responses = await ProcessAsync(f, [message]);

        Assert.Equal(StatusCode.Forbidden, Assert.Single(responses).ImmediateResponse.Status.Code);
        Assert.Equal("request_malformed", Reason(responses[0]));
    }

    [Fact]
    public async Task Process_SidecarTenantDiffersFromToken_Refused()
    {
        await using var f = await ServerFixture.StartAsync(Policies);

        var responses = await ProcessAsync(f, [RequestHeaders(await f.TokenAsync(), "ehr.read", Patient), RequestBody("ehr.read", Patient)],
            new Grpc.Core.Metadata { { "x-aegis-tenant", "globex" } });

        Assert.Equal("tenant_mismatch", Reason(responses[1]));
    }

    [Fact]
    public async Task Process_ExtAuthzDecidedSanitizeButCallNowEvaluatesOtherwise_Refused()
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var authz = new Struct { Fields = { ["effect"] = Value.ForString("sanitize"), ["decision_id"] = Value.ForString("d-1") } };

        var responses = await ProcessAsync(f, [RequestHeaders(await f.TokenAsync(), "crm.lookup", "{}", authz: authz), RequestBody("crm.lookup", "{}")]);

        Assert.Equal("redaction_unavailable", Reason(responses[1]));
        Assert.Contains(responses[1].ImmediateResponse.Headers.SetHeaders, h => h.Header.Key == "x-aegis-decision-id" && h.Header.RawValue.ToStringUtf8() == "d-1");
    }

    [Fact]
    public async Task Process_SanitizedCall_BudgetAndRateLimitChargedOnlyByExtAuthz()
    {
        var budgets = new InMemoryBudgetStore();
        await using var f = await ServerFixture.StartAsync(Policies, state: new DecisionState(budgets, new InMemoryRateLimiter(), new InMemoryTokenIdStore()));
        var token = await f.TokenAsync();
        var authz = await f.Client.CheckAsync(ServerFixture.Check(token, "ehr.read", Patient));

        for (var i = 0; i < 3; i++)
        {
            var responses = await ProcessAsync(f, [RequestHeaders(null, "ehr.read", Patient, authz: authz.DynamicMetadata), RequestBody("ehr.read", Patient)]);
            Assert.NotNull(responses[1].RequestBody.Response.BodyMutation);
        }

        var spend = await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow);
        Assert.Equal(0.30m, spend.Today);

        // Burst 3: ext_authz took one token. Had ext_proc taken any, one of these two would be rate limited.
        var later = new[]
        {
            await f.Client.CheckAsync(ServerFixture.Check(token, "ehr.read", Patient)),
            await f.Client.CheckAsync(ServerFixture.Check(token, "ehr.read", Patient)),
        };
        Assert.Equal([0, 0], later.Select(r => r.Status.Code));
        Assert.Equal(0.90m, (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today);
    }

    [Fact]
    public async Task Process_OverrideInRequest_NotConsumed()
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var token = await f.TokenAsync();
        string digest;
        using (var args = JsonDocument.Parse(LargeTransfer))
        {
            digest = AgentTokens.ArgsDigest(args.RootElement);
        }

        var grant = await f.TokenAsync(extra: new Dictionary<string, object> { ["use"] = "once", ["tool"] = "stripe.transfer", ["args_digest"] = digest });
        var withGrant = new Dictionary<string, string> { ["x-aegis-override"] = grant };

        var responses = await ProcessAsync(f, [RequestHeaders(token, "stripe.transfer", LargeTransfer, extra: withGrant), RequestBody("stripe.transfer", LargeTransfer)]);
        var check = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", LargeTransfer, headers: withGrant));

        AssertUntouched(responses[1].RequestBody);
        Assert.Equal(0, check.Status.Code);
        Assert.Equal(Aegis.Decision.Protos.Envoy.Service.Auth.V3.CheckResponse.HttpResponseOneofCase.OkResponse, check.HttpResponseCase);
    }

    [Theory]
    [InlineData(GrpcStatusCode.ResourceExhausted, true)]
    [InlineData(GrpcStatusCode.Cancelled, false)]
    public async Task Process_ReadFails_ErrorStatusUnlessEnvoyCancelled(GrpcStatusCode failure, bool propagates)
    {
        // Through Grpc.Net.Client both look alike (Kestrel resets the unread upload), so the handler is called directly.
        // A body over the message size limit must end the call with an error status: Envoy forwards the request
        // unprocessed when the stream closes cleanly, and fails it on an error.
        Exception thrown = failure == GrpcStatusCode.Cancelled ? new OperationCanceledException() : new Grpc.Core.RpcException(new Grpc.Core.Status(failure, "too large"));
        var service = new ExtProc.ExtProcService(null!, Microsoft.Extensions.Logging.Abstractions.NullLogger<ExtProc.ExtProcService>.Instance);
        var writer = new RecordingWriter();

        var error = await Record.ExceptionAsync(() => service.Process(new FailingReader(thrown), writer, new StubCallContext()));

        Assert.Equal(propagates ? thrown : null, error);
        Assert.Empty(writer.Written);
    }

    [Fact]
    public async Task Process_ObservabilityMode_NoAnswers()
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var headers = RequestHeaders(await f.TokenAsync(), "ehr.read", Patient);
        var body = RequestBody("ehr.read", Patient);
        headers.ObservabilityMode = body.ObservabilityMode = true;

        using var call = f.ExtProc.Process();
        await call.RequestStream.WriteAsync(headers);
        await call.RequestStream.WriteAsync(body);
        await call.RequestStream.CompleteAsync();

        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(GrpcStatusCode.OK, call.GetStatus().StatusCode);
    }

    private sealed class FailingReader(Exception failure) : Grpc.Core.IAsyncStreamReader<ProcessingRequest>
    {
        public ProcessingRequest Current => throw new InvalidOperationException("no message was read");

        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromException<bool>(failure);
    }

    private sealed class RecordingWriter : Grpc.Core.IServerStreamWriter<ProcessingResponse>
    {
        public List<ProcessingResponse> Written { get; } = [];
        public Grpc.Core.WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(ProcessingResponse message)
        {
            Written.Add(message);
            return Task.CompletedTask;
        }
    }

    private sealed class StubCallContext : Grpc.Core.ServerCallContext
    {
        protected override string MethodCore => "/envoy.service.ext_proc.v3.ExternalProcessor/Process";
        protected override string HostCore => "localhost";
        protected override string PeerCore => "ipv4:127.0.0.1:1";
        protected override DateTime DeadlineCore => DateTime.MaxValue;
        protected override Grpc.Core.Metadata RequestHeadersCore { get; } = [];
        protected override CancellationToken CancellationTokenCore => CancellationToken.None;
        protected override Grpc.Core.Metadata ResponseTrailersCore { get; } = [];
        protected override Grpc.Core.Status StatusCore { get; set; }
        protected override Grpc.Core.WriteOptions? WriteOptionsCore { get; set; }
        protected override Grpc.Core.AuthContext AuthContextCore => new(null, []);

        protected override Grpc.Core.ContextPropagationToken CreatePropagationTokenCore(Grpc.Core.ContextPropagationOptions? options) => throw new NotSupportedException();

        protected override Task WriteResponseHeadersAsyncCore(Grpc.Core.Metadata responseHeaders) => Task.CompletedTask;
    }

    [Theory]
    [InlineData("ehr.read", "sanitize", true)]
    [InlineData("crm.lookup", "allow", false)]
    [InlineData("ehr.read", "no metadata", true)]
    [InlineData("ehr.read", "no body", false)]
    public async Task Process_RequestHeaders_AskForTheBodyOnlyWhenItMayNeedRedacting(string tool, string premise, bool expectBody)
    {
        await using var f = await ServerFixture.StartAsync(Policies);
        var token = await f.TokenAsync();
        var body = premise == "no body" ? "" : """{"note":"hi"}""";
        var authz = premise is "no metadata" or "no body" ? null : (await f.Client.CheckAsync(ServerFixture.Check(token, tool, body))).DynamicMetadata;
        var headers = RequestHeaders(null, tool, body, authz: authz);
        headers.RequestHeaders.EndOfStream = premise == "no body";
        if (authz is not null)
        {
            Assert.Equal(premise, authz.Fields["effect"].StringValue);
        }

        var responses = await ProcessAsync(f, [headers]);

        // With the filter's default request_body_mode NONE (the generated sidecar config), only a mode override brings
        // the body: ext_authz said sanitize, or its decision is unknown and the body might need redacting.
        var mode = responses.Single().ModeOverride;
        Assert.Equal(expectBody, mode is not null);
        if (expectBody)
        {
            Assert.Equal(Protos.Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.BodySendMode.Buffered, mode!.RequestBodyMode);
            Assert.Equal(Protos.Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.HeaderSendMode.Skip, mode.ResponseHeaderMode);
        }
    }
}
