using System.Text.Json;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Protos.Envoy.Type.V3;

namespace Aegis.Decision.Tests;

/// <summary>Envoy's Check call through the real gRPC client against a running server.</summary>
public class ExtAuthzTests
{
    private static string Header(CheckResponse response, string name) =>
        (response.OkResponse?.Headers ?? response.DeniedResponse.Headers).Single(h => h.Header.Key == name).Header.Value;

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
        Assert.Contains("authorization", response.OkResponse.HeadersToRemove);
        Assert.Contains("x-aegis-token", response.OkResponse.HeadersToRemove);
    }

    [Fact]
    public async Task Check_DeniedCall_403WithJsonBodyNamingTheReason()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        var response = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.payout"));

        Assert.Equal(7, response.Status.Code);
        Assert.Equal(StatusCode.Forbidden, response.DeniedResponse.Status.Code);
        using var body = JsonDocument.Parse(response.DeniedResponse.Body);
        Assert.Equal("default_effect", body.RootElement.GetProperty("reason").GetString());
        Assert.Equal("fin/payments", body.RootElement.GetProperty("policy").GetString());
        Assert.Equal(Header(response, "x-aegis-decision-id"), body.RootElement.GetProperty("decision_id").GetString());
    }

    [Fact]
    public async Task Check_ApprovalNeeded_403NamingWhatMustBeApproved()
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", """{"amount": 9000}"""));

        Assert.Equal(StatusCode.Forbidden, response.DeniedResponse.Status.Code);
        Assert.Equal("fin/payments/large", Header(response, "x-aegis-approval-rule"));
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
    [InlineData("not-a-jwt", "token_malformed")]
    public async Task Check_NoOrBadToken_Unauthenticated401(string? token, string reason)
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 1}"""));

        Assert.Equal(16, response.Status.Code);
        Assert.Equal(reason, response.Status.Message);
        Assert.Equal(StatusCode.Unauthorized, response.DeniedResponse.Status.Code);
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
    [InlineData("{not json", "request_malformed")]
    [InlineData("[1, 2]", "request_malformed")]
    public async Task Check_MalformedToolBody_DeniedWithNamedReason(string body, string reason)
    {
        await using var f = await ServerFixture.StartAsync();
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", body));
        Assert.Equal(7, response.Status.Code);
        Assert.Equal(reason, response.Status.Message);
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
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(tenant: "initech"), "x"));
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
        Assert.Equal(StatusCode.TooManyRequests, results[2].DeniedResponse.Status.Code);
        Assert.Equal("budget_exhausted", results[2].Status.Message);
        Assert.True(int.Parse(Header(results[2], "retry-after"), System.Globalization.CultureInfo.InvariantCulture) >= 1);
    }

    [Fact]
    public async Task Check_RateLimit_429AfterTheBurst()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();

        // Burst 3 at 60/min, each call costing 0.01 (under the 1.00 budget): the fourth call in a row is limited.
        var codes = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            var r = await f.Client.CheckAsync(ServerFixture.Check(token, "openai.chat", "{}", headers: new Dictionary<string, string> { ["x-aegis-cost-estimate"] = "0.01" }));
            codes.Add(r.Status.Code);
            if (i == 3)
            {
                Assert.Equal("rate_limited", r.Status.Message);
                Assert.Equal(StatusCode.TooManyRequests, r.DeniedResponse.Status.Code);
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
