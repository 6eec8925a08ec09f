using System.Text.Json;
using Aegis.Decision.Calls;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Protos.Envoy.Type.V3;

namespace Aegis.Decision.Tests;

/// <summary>Envoy's Check call through the real gRPC client against a running server.</summary>
public class ExtAuthzTests
{
    private static string Header(CheckResponse response, string name) =>
        (response.OkResponse?.Headers ?? response.DeniedResponse.Headers).Single(h => h.Header.Key == name).Header.Value;

    /// <summary>
    /// A refused MCP request as the client sees it: HTTP 200, a JSON-RPC answer echoing the id; a tools/call the policy
    /// refused is a result with isError, anything else an error. Returns the Aegis decision data and the error code.
    /// </summary>
    private static (JsonElement Data, int? Code, string Text) McpRefusal(CheckResponse response, string id = "1")
    {
        Assert.NotEqual(0, response.Status.Code);
        Assert.Equal(StatusCode.Ok, response.DeniedResponse.Status.Code);
        using var body = JsonDocument.Parse(response.DeniedResponse.Body);
        var root = body.RootElement.Clone();
        Assert.Equal("2.0", root.GetProperty("jsonrpc").GetString());
        Assert.Equal(id, root.GetProperty("id").GetRawText());
        if (root.TryGetProperty("error", out var error))
        {
            return (error.GetProperty("data"), error.GetProperty("code").GetInt32(), error.GetProperty("message").GetString()!);
        }

        var result = root.GetProperty("result");
        Assert.True(result.GetProperty("isError").GetBoolean());
        return (result.GetProperty("_meta").GetProperty("aegis.dev/decision"), null, result.GetProperty("content")[0].GetProperty("text").GetString()!);
    }

    [Fact]
    public async Task Check_AllowedToolCall_OkWithDecisionIdAndRevision()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        var response = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 120}"""));

        Assert.Equal(0, response.Status.Code);
        Assert.NotNull(response.OkResponse);
        Assert.Matches("^[0-9a-f]{32}$", Header(response, "x-aegis-decision-id"));
        Assert.Equal(f.Server.Bundles.Get("acme")!.Revision, Header(response, "x-aegis-bundle-revision"));
        Assert.Equal(["authorization"], response.OkResponse.HeadersToRemove);
        Assert.Equal("true", Header(response, "x-aegis-upstream-tls"));
    }

    [Fact]
    public async Task Check_AgentSentAegisHeaders_AllRemovedBeforeTheUpstream()
    {
        await using var f = await ServerFixture.StartAsync();
        var check = ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", """{"amount": 120}""", headers: new Dictionary<string, string>
        {
            ["x-aegis-tool"] = "stripe.balance.get",
            ["x-aegis-cost-estimate"] = "0.00",
            ["x-aegis-receipt"] = "forged",
            ["x-aegis-upstream-tls"] = "false",
        });

        var response = await f.Client.CheckAsync(check);

        Assert.Equal(0, response.Status.Code);
        Assert.Equal(["authorization", "x-aegis-cost-estimate", "x-aegis-receipt", "x-aegis-tool", "x-aegis-upstream-tls"], response.OkResponse.HeadersToRemove.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Check_DeniedToolCall_JsonRpcResultWithIsErrorNamingTheReason()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        var response = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.payout"));

        Assert.Equal(7, response.Status.Code);
        var (data, code, text) = McpRefusal(response);
        Assert.Null(code);
        Assert.Equal("default_effect", data.GetProperty("reason").GetString());
        Assert.Equal("fin/payments", data.GetProperty("policy").GetString());
        Assert.Equal(Header(response, "x-aegis-decision-id"), data.GetProperty("decisionId").GetString());
        Assert.Contains("default_effect", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_DeniedEgress_403WithJsonBodyNamingTheReason()
    {
        await using var f = await ServerFixture.StartAsync();

        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), host: "api.evil.com", path: "/exfil"));

        Assert.Equal(StatusCode.Forbidden, response.DeniedResponse.Status.Code);
        using var body = JsonDocument.Parse(response.DeniedResponse.Body);
        Assert.Equal("default_effect", body.RootElement.GetProperty("reason").GetString());
        Assert.Equal(Header(response, "x-aegis-decision-id"), body.RootElement.GetProperty("decision_id").GetString());
    }

    [Fact]
    public async Task Check_ApprovalNeeded_403NamingWhatMustBeApproved()
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", """{"amount": 9000}"""));

        var (data, _, text) = McpRefusal(response);
        Assert.Equal("fin/payments/large", Header(response, "x-aegis-approval-rule"));
        Assert.Equal("large", data.GetProperty("rule").GetString());
        Assert.Contains("approval", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_Egress_MatchedOnHostAndPath()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        var allowed = await f.Client.CheckAsync(ServerFixture.Check(token, host: "api.stripe.com", path: "/v1/charges?limit=1", method: "GET"));
        var denied = await f.Client.CheckAsync(ServerFixture.Check(token, host: "api.evil.com", path: "/v1/charges", method: "GET"));

        Assert.Equal(0, allowed.Status.Code);
        Assert.Equal(7, denied.Status.Code);
    }

    [Fact]
    public async Task Check_Sanitize_OkWithRedactedHeaders()
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "crm.lookup", """{"q":"x"}""",
            headers: new Dictionary<string, string> { ["x-customer"] = "jane@example.com", ["x-plain"] = "nothing here" }));

        Assert.Equal(0, response.Status.Code);
        Assert.Equal("[REDACTED:email]", Header(response, "x-customer"));
        Assert.DoesNotContain(response.OkResponse.Headers, h => h.Header.Key == "x-plain");
    }

    [Fact]
    public async Task Check_Allowed_HandsDecisionAndTokenToExtProcInDynamicMetadata()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        var allowed = await f.Client.CheckAsync(ServerFixture.Check(token, "crm.lookup", """{"q":"x"}"""));
        var denied = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.payout"));

        var fields = allowed.DynamicMetadata.Fields;
        Assert.Equal("sanitize", fields["effect"].StringValue);
        Assert.Equal(token, fields["token"].StringValue);
        Assert.Equal(Header(allowed, "x-aegis-decision-id"), fields["decision_id"].StringValue);
        Assert.Null(denied.DynamicMetadata);
    }

    [Theory]
    [InlineData(null, "token_missing")]
    [InlineData("not-a-jwt", "token_missing")]
    [InlineData("not.a.jwt", "token_malformed")]
    public async Task Check_NoOrBadToken_Unauthenticated(string? token, string reason)
    {
        await using var f = await ServerFixture.StartAsync();
        var sidecar = new Dictionary<string, string> { ["tenant"] = "acme" };
        var mcp = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 1}""", context: sidecar));
        var egress = await f.Client.CheckAsync(ServerFixture.Check(token, host: "api.stripe.com", path: "/v1/charges"));

        // A bearer value that is no JWT is the upstream's key, not an Aegis token: the call has none. The sidecar's
        // tenant tells which ToolServer the host is, so the MCP client is refused in JSON-RPC.
        Assert.Equal(16, mcp.Status.Code);
        Assert.Equal(reason, mcp.Status.Message);
        Assert.Equal(Refusals.McpUnauthenticated, McpRefusal(mcp).Code);
        Assert.Equal(StatusCode.Unauthorized, egress.DeniedResponse.Status.Code);
        Assert.Equal(reason, egress.Status.Message);
    }

    [Fact]
    public async Task Check_TokenSignedByAnotherKey_Unauthenticated()
    {
        await using var f = await ServerFixture.StartAsync();
        using var stranger = Aegis.Policy.Signing.LocalEd25519Signer.Generate(Aegis.Policy.Signing.KeyPurpose.Token);
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(signer: stranger), "stripe.transfer", """{"amount": 1}"""));
        Assert.Equal("token_unknown_kid", response.Status.Message);
    }

    [Fact]
    public async Task Check_TokenInXAegisTokenHeader_KeepsAuthorizationForTheUpstream()
    {
        await using var f = await ServerFixture.StartAsync();
        var check = ServerFixture.Check(null, "stripe.transfer", """{"amount": 1}""",
            headers: new Dictionary<string, string> { ["x-aegis-token"] = await f.TokenAsync(), ["authorization"] = "Bearer sk_live_upstream" });

        var response = await f.Client.CheckAsync(check);

        Assert.Equal(0, response.Status.Code);
        Assert.DoesNotContain("authorization", response.OkResponse.HeadersToRemove);
        Assert.Contains("x-aegis-token", response.OkResponse.HeadersToRemove);
    }

    [Theory]
    [InlineData("{not json", "mcp_not_jsonrpc", -32700)]
    [InlineData("[1, 2]", "mcp_batch_not_supported", -32600)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":[1]}}""", "mcp_params_invalid", -32602)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage"}""", "mcp_method_not_allowed", -32601)]
    public async Task Check_MalformedMcpBody_DeniedWithNamedReason(string body, string reason, int code)
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), host: "stripe.tools.test", path: "/mcp", body: body));
        Assert.Equal(7, response.Status.Code);
        Assert.Equal(reason, response.Status.Message);
        Assert.Equal(code, McpRefusal(response, id: body.StartsWith("""{"jsonrpc""", StringComparison.Ordinal) ? "1" : "null").Code);
    }

    [Fact]
    public async Task Check_BadCostHeader_DeniedAsMalformed()
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "openai.chat", "{}", headers: new Dictionary<string, string> { ["x-aegis-cost-estimate"] = "-1" }));
        Assert.Equal("request_malformed", response.Status.Message);
    }

    [Fact]
    public async Task Check_EmptyCheckRequest_DeniedNotThrown()
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(new CheckRequest());
        Assert.Equal(7, response.Status.Code);
        Assert.Equal("request_malformed", response.Status.Message);
    }

    [Fact]
    public async Task Check_SidecarTenantDiffersFromToken_Denied()
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", """{"amount": 1}""",
            context: new Dictionary<string, string> { ["tenant"] = "globex" }));
        Assert.Equal("tenant_mismatch", response.Status.Message);
    }

    [Fact]
    public async Task Check_TenantWithoutBundle_DeniedNoBundle()
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(tenant: "initech"), "stripe.x"));
        Assert.Equal("no_bundle", response.Status.Message);
    }

    [Fact]
    public async Task Check_BudgetSpent_429WithRetryAfter()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        // 0.40 per call against 1.00 a day: two calls fit, the third does not.
        var results = new List<CheckResponse>();
        for (var i = 0; i < 3; i++)
        {
            results.Add(await f.Client.CheckAsync(ServerFixture.Check(token, "openai.chat", "{}")));
        }

        Assert.Equal([0, 0, 7], results.Select(r => r.Status.Code));
        Assert.Equal(Refusals.McpLimited, McpRefusal(results[2]).Code);
        Assert.Equal("budget_exhausted", results[2].Status.Message);
        Assert.True(int.Parse(Header(results[2], "retry-after"), System.Globalization.CultureInfo.InvariantCulture) >= 1);
    }

    [Fact]
    public async Task Check_RateLimit_429AfterTheBurst()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        // Burst 3 at 60/min, each call unpriced (well under the 1.00 budget): the fourth call in a row is limited.
        var codes = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            var r = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 10}"""));
            codes.Add(r.Status.Code);
            if (i == 3)
            {
                Assert.Equal("rate_limited", r.Status.Message);
                Assert.Equal(Refusals.McpLimited, McpRefusal(r).Code);
            }
        }

        Assert.Equal([0, 0, 0, 7], codes);
    }

    [Fact]
    public async Task Check_SingleUseToken_AcceptedOnceThenReplayRefused()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync(extra: new Dictionary<string, object> { ["use"] = "once" });

        var first = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 1}"""));
        var second = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 1}"""));

        Assert.Equal(0, first.Status.Code);
        Assert.Equal(16, second.Status.Code);
        Assert.Equal("token_replayed", second.Status.Message);
    }

    [Fact]
    public async Task Check_TraceParent_ContinuesTheCallersTrace()
    {
        await using var f = await ServerFixture.StartAsync();
        var traceId = System.Diagnostics.ActivityTraceId.CreateRandom();
        var spans = new List<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == Telemetry.DecisionTelemetry.SourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (spans) { spans.Add(a); } },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", """{"amount": 1}""",
            headers: new Dictionary<string, string> { ["traceparent"] = $"00-{traceId}-b7ad6b7169203331-01" }));

        System.Diagnostics.Activity span;
        lock (spans)
        {
            span = Assert.Single(spans, s => s.TraceId == traceId);
        }

        Assert.Equal("acme", span.GetTagItem("aegis.tenant"));
        Assert.Equal("payments-bot", span.GetTagItem("aegis.agent_id"));
        Assert.Equal("stripe.transfer", span.GetTagItem("aegis.tool"));
        Assert.Equal("allow", span.GetTagItem("aegis.effect"));
        Assert.Equal("fin/payments/small", span.GetTagItem("aegis.rule"));
        Assert.Equal(f.Server.Bundles.Get("acme")!.Revision, span.GetTagItem("aegis.policy_version"));
    }
}
