using System.Collections.Concurrent;
using System.Diagnostics;
using Aegis.Contracts.Wire;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Telemetry;
using Aegis.Policy.Audit;
using Aegis.Policy.Identity;
using Aegis.TestSupport;

namespace Aegis.Decision.Tests.Audit;

/// <summary>The decision server's own audit records, spans and coverage figures, through the real gRPC and HTTP front ends.</summary>
public class AuditServerTests
{
    private static string DecisionId(CheckResponse response) =>
        (response.OkResponse?.Headers ?? response.DeniedResponse.Headers).Single(h => h.Header.Key == "x-aegis-decision-id").Header.Value;

    [Fact]
    public async Task Server_EveryDecisionIsAudited_WithTheArgsDigestButNotTheArgs()
    {
        await using var f = await ServerFixture.StartAsync(audit: true);
        var token = await f.TokenAsync();
        const string Args = """{"amount": 1, "iban": "DE89370400440532013000"}""";
        var traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        var allowed = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", Args, headers: new Dictionary<string, string> { ["traceparent"] = traceparent }));
        var approval = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 9000}"""));
        var unauthenticated = await f.Client.CheckAsync(ServerFixture.Check("bad.to.ken", "stripe.x"));

        var records = f.AuditDecisions();
        Assert.Equal([DecisionId(allowed), DecisionId(approval), DecisionId(unauthenticated)], records.Select(r => (string)r["decisionId"]!));
        Assert.Equal(["allow", "approval_needed", "deny"], records.Select(r => (string)r["effect"]!));
        Assert.Equal(["rule_matched", "rule_matched", "token_malformed"], records.Select(r => (string)r["reason"]!));
        var first = records[0];
        Assert.Equal(("acme", "payments-bot", "stripe.transfer", "fin/payments", "small"), ((string)first["tenant"]!, (string)first["agentId"]!, (string)first["tool"]!, (string)first["policy"]!, (string)first["rule"]!));
        Assert.Equal(AgentTokens.ArgsDigest(System.Text.Json.JsonDocument.Parse(Args).RootElement), (string)first["argsDigest"]!);
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", (string)first["traceId"]!);
        Assert.Null(first["args"]);
        Assert.DoesNotContain("DE89370400440532013000", string.Concat(f.AuditLines().Select(l => l.ToJsonString())), StringComparison.Ordinal);
        Assert.DoesNotContain(token, string.Concat(f.AuditLines().Select(l => l.ToJsonString())), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_PolicyThatOptsIn_RecordsTheArgsRedactedByItsRedactors()
    {
        var yaml = """
            apiVersion: aegis.dev/v1alpha1
            kind: AgentPolicy
            metadata: { name: crm, namespace: fin }
            spec:
              tenant: acme
              audit: { includeArgs: true }
              rules:
                - { name: crm, match: { tools: ["crm.*"] }, effect: sanitize, redact: [ { detector: email } ] }
                - { name: notes, match: { tools: ["notes.add"] }, effect: allow }
            ---
            apiVersion: aegis.dev/v1alpha1
            kind: AgentPolicy
            metadata: { name: pay, namespace: fin }
            spec:
              tenant: acme
              rules: [ { name: pay, match: { tools: ["stripe.*"] }, effect: allow } ]
            """ + "\n" + WireCalls.McpServer("crm", ns: "fin") + WireCalls.McpServer("notes", ns: "fin") + WireCalls.McpServer("stripe", ns: "fin");
        await using var f = await ServerFixture.StartAsync(yaml, audit: true);
        var token = await f.TokenAsync();

        await f.Client.CheckAsync(ServerFixture.Check(token, "crm.update", """{"email": "ada@example.com", "name": "Ada"}"""));
        await f.Client.CheckAsync(ServerFixture.Check(token, "notes.add", """{"text": "call bob@example.com"}"""));
        await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 5}"""));

        var records = f.AuditDecisions();
        Assert.Equal(["sanitize", "allow", "allow"], records.Select(r => (string)r["effect"]!));
        Assert.Equal("""{"email":"[REDACTED:email]","name":"Ada"}""", records[0]["args"]!.ToJsonString());
        Assert.Equal(["email"], records[0]["redactionKinds"]!.AsArray().Select(k => (string)k!));
        Assert.Equal("""{"text":"call [REDACTED:email]"}""", records[1]["args"]!.ToJsonString());
        Assert.Null(records[2]["args"]);
    }

    public static TheoryData<string> RefusalKinds() =>
        ["no http attributes", "tool body not JSON", "bad cost header", "no token", "bad token", "tenant mismatch", "no bundle", "allowed", "denied by default"];

    [Theory]
    [MemberData(nameof(RefusalKinds))]
    public async Task Check_EveryKindOfAnswer_HasExactlyOneSpanAndOneAuditRecord(string kind)
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == DecisionTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var f = await ServerFixture.StartAsync(audit: true);
        var token = await f.TokenAsync();
        var request = kind switch
        {
            "no http attributes" => new CheckRequest(),
            "tool body not JSON" => ServerFixture.Check(token, body: "{not json", host: WireCalls.HostFor("stripe"), path: WireCalls.McpPath),
            "bad cost header" => ServerFixture.Check(token, "stripe.transfer", "{}", headers: new Dictionary<string, string> { [AegisHeaders.CostEstimate] = "a lot" }),
            "no token" => ServerFixture.Check(null, "stripe.transfer", "{}"),
            "bad token" => ServerFixture.Check("not-a-jwt", "stripe.transfer", "{}"),
            "tenant mismatch" => ServerFixture.Check(token, "stripe.transfer", "{}", context: new Dictionary<string, string> { [EnvoyContract.TenantExtension] = "globex" }),
            "no bundle" => ServerFixture.Check(await f.TokenAsync(tenant: "initech"), "stripe.transfer", "{}"),
            "allowed" => ServerFixture.Check(token, "stripe.transfer", """{"amount": 3}"""),
            _ => ServerFixture.Check(token, "stripe.refund", "{}"),
        };

        var response = await f.Client.CheckAsync(request);

        var id = DecisionId(response);
        Assert.Single(spans, s => (string?)s.GetTagItem("aegis.decision_id") == id);
        var record = Assert.Single(f.AuditDecisions(), r => (string)r["decisionId"]! == id);
        Assert.Equal(kind == "allowed", (string)record["effect"]! == "allow");
        if (kind is "no http attributes" or "bad cost header")
        {
            Assert.Equal("request_malformed", (string)record["reason"]!);
        }

        if (kind == "tool body not JSON")
        {
            Assert.Equal(Aegis.Decision.Calls.CallReasons.McpNotJsonRpc, (string)record["reason"]!);
        }
    }

    [Fact]
    public async Task Check_AnAgentForgingLogLinesInItsInput_GetsOneEscapedRecordAndTheChainStillVerifies()
    {
        await using var f = await ServerFixture.StartAsync(audit: true);
        var token = await f.TokenAsync();
        const string Forged = "1\n{\"seq\":3,\"prev\":\"00\",\"type\":\"checkpoint\"}\n";
        const string ForgedPath = "/v1/charges\n{\"type\":\"decision\",\"effect\":\"allow\"}";

        // An egress request whose path and (unparseable) cost header carry audit lines of their own.
        var response = await f.Client.CheckAsync(ServerFixture.Check(token, host: "api.stripe.com", path: ForgedPath, headers: new Dictionary<string, string> { [AegisHeaders.CostEstimate] = Forged }));

        var lines = Directory.GetFiles(f.AuditDir, "*.jsonl").SelectMany(p => ServerFixture.ReadShared(p).Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(2, lines.Count);
        var record = Assert.Single(f.AuditDecisions());
        Assert.Equal((DecisionId(response), "request_malformed"), ((string)record["decisionId"]!, (string)record["reason"]!));
        Assert.Equal(ForgedPath, (string)record["path"]!);
        var report = AuditVerifier.Verify(Directory.GetFiles(f.AuditDir, "*.jsonl").Select(p => new AuditSource(p, File.ReadAllBytes(p))), f.AuditKeys);
        Assert.True(report.Valid, string.Join("\n", report.Problems));
    }

    [Fact]
    public async Task Metrics_PolicyCoverage_IsRuleDecidedToolCallsOverAllToolCalls()
    {
        await using var f = await ServerFixture.StartAsync(audit: true);
        var token = await f.TokenAsync();
        await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 3}"""));
        await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 4}"""));
        await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.refund", "{}"));
        await f.Client.CheckAsync(ServerFixture.Check(token, host: "api.stripe.com", path: "/v1/charges"));
        await f.Client.CheckAsync(ServerFixture.Check("bad.to.ken", "stripe.transfer", "{}"));

        var metrics = await f.Http.GetStringAsync("/metrics");

        Assert.Contains("aegis_tool_calls_total{tenant=\"acme\"} 3\n", metrics, StringComparison.Ordinal);
        Assert.Contains("aegis_tool_calls_rule_matched_total{tenant=\"acme\"} 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("aegis_policy_coverage_ratio{tenant=\"acme\"} 0.6667\n", metrics, StringComparison.Ordinal);

        // A call whose token does not verify is not read at all (who it is decides what it may be), so it is no tool call.
        Assert.DoesNotContain("tenant=\"unknown\"", metrics, StringComparison.Ordinal);
        Assert.Contains("aegis_audit_records_total 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("aegis_audit_failed 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_Stopped_ClosesItsSegmentWithASignedCheckpoint()
    {
        await using (var f = await ServerFixture.StartAsync(audit: true))
        {
            var token = await f.TokenAsync();
            await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 3}"""));
            await f.Server.DisposeAsync();

            // Stopping closes the segment with a signed checkpoint.
            var report = AuditVerifier.Verify(Directory.GetFiles(f.AuditDir, "*.jsonl").Select(p => new AuditSource(p, File.ReadAllBytes(p))), f.AuditKeys);
            Assert.True(report.Valid, string.Join("\n", report.Problems));
            Assert.True(Assert.Single(report.Replicas).Closed);
            Assert.Equal(1, report.Replicas[0].Records);
            Assert.Equal("test.00000001.jsonl", Path.GetFileName(Directory.GetFiles(f.AuditDir, "*.jsonl").Single()));
        }
    }
}
