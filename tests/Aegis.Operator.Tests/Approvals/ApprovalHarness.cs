using System.Net;
using Microsoft.AspNetCore.Builder;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Aegis.Decision.Hosting;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Operator.Approvals;
using Aegis.Operator.Hosting;
using Aegis.Operator.Keys;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using Aegis.TestSupport.Slack;
using Grpc.Net.Client;
using k8s;

namespace Aegis.Operator.Tests.Approvals;

/// <summary>
/// The approval flow's moving parts, all real and in-process: the test Kubernetes API server, the operator (desk,
/// Slack interactions, controller) talking to the fake Slack, and a decision server that polls the operator's
/// bundles and JWKS and files approvals with it. Tokens are signed by the operator's key, as the token service would.
/// </summary>
public sealed class ApprovalHarness : IAsyncDisposable
{
    public const string SigningSecret = "8f742231b10e8888abcd99yyyzzz85a5";
    public const string Channel = "C0APPROVE";

    public const string Policy = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: payments, namespace: fin }
        spec:
          tenant: acme
          agents: ["payments-*"]
          rules:
            - { name: small, match: { tools: ["stripe.transfer"] }, when: "args.amount <= 5000.0", effect: allow }
            - name: large
              match: { tools: ["stripe.transfer"] }
              when: "args.amount > 5000.0"
              effect: approval_needed
              approval: { approvers: ["slack:U0ALICE", "group:finance"], ttl: 15m, channel: "#approvals" }
            - name: payouts
              match: { tools: ["stripe.payout"] }
              effect: approval_needed
              approval: { approvers: ["slack:U0ALICE"], ttl: 5s, channel: "#approvals" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: fin }
        spec: { tenant: acme, protocol: mcp, url: "https://stripe.tools.test/mcp" }
        """;

    private readonly List<IAsyncDisposable> _owned = [];

    private ApprovalHarness()
    {
    }

    public KubernetesTestServer Api { get; private set; } = null!;
    public Kubernetes Client { get; private set; } = null!;
    public SlackTestServer Slack { get; private set; } = null!;
    public OperatorSigningKeys Keys { get; } = OperatorSigningKeys.Generate();
    public WebApplication Operator { get; private set; } = null!;
    public HttpClient OperatorHttp { get; private set; } = null!;
    public RunningDecisionServer Decisions { get; private set; } = null!;
    public Aegis.Decision.Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient ExtAuthz { get; private set; } = null!;

    public static async Task<ApprovalHarness> StartAsync()
    {
        var h = new ApprovalHarness();
        h.Api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        h.Client = new Kubernetes(new KubernetesClientConfiguration { Host = h.Api.Url });
        await OperatorUnderTest.CreateNamespaceAsync(h.Client, "fin", "acme");
        h.Slack = await SlackTestServer.StartAsync();
        h.Slack.AddChannel(Channel, "approvals");
        h.Operator = OperatorHost.Build(new OperatorOptions
        {
            Client = h.Client,
            Namespace = "aegis-system",
            Keys = h.Keys,
            Identity = "operator-0",
            HttpPort = 0,
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
            Approvals = new ApprovalSettings
            {
                SlackBotToken = h.Slack.BotToken,
                SlackSigningSecret = SigningSecret,
                SlackApi = h.Slack.ApiUrl,
                SlackResponseUrls = new Uri(h.Slack.ResponseUrl),
                Groups = new Dictionary<string, IReadOnlyList<string>> { ["finance"] = ["slack:U0BOB"] },
                Resync = TimeSpan.FromMilliseconds(200),
            },
        });
        await h.Operator.StartAsync();
        var operatorUrl = $"http://127.0.0.1:{LoopbackPorts.BoundPort(h.Operator)}";
        h.OperatorHttp = new HttpClient { BaseAddress = new Uri(operatorUrl) };

        var documents = Aegis.Policy.Loading.YamlJson.Parse(Policy, "policy", []);
        foreach (var json in documents)
        {
            var plural = json!["kind"]!.ToString() == "ToolServer" ? "toolservers" : "agentpolicies";
            await h.Client.CustomObjects.CreateNamespacedCustomObjectAsync(json, "aegis.dev", "v1alpha1", "fin", plural);
        }

        // The bundle is complete once it names every object (the kinds are compiled as their informers see them).
        await Eventually.TrueAsync(async () =>
        {
            using var bundle = await h.OperatorHttp.GetAsync("/bundles/acme");
            return bundle.StatusCode == HttpStatusCode.OK
                && JsonNode.Parse(Aegis.Policy.Bundles.BundleArchive.Unpack(await bundle.Content.ReadAsByteArrayAsync())[".manifest"])!["metadata"]!["sources"]!.AsArray().Count == documents.Count;
        }, "the operator serving acme's bundle with every object");
        h.Decisions = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleUrl = operatorUrl + "/bundles/{tenant}",
            Tenants = ["acme"],
            JwksUrl = new Uri(operatorUrl + "/.well-known/jwks.json"),
            ApprovalsUrl = new Uri(operatorUrl + "/"),
            GrpcPort = 0,
            HttpPort = 0,
        });
        var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{h.Decisions.GrpcPort}");
        h.ExtAuthz = new Aegis.Decision.Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient(channel);
        h._owned.Add(new DisposeAction(() => channel.Dispose()));
        return h;
    }

    public Task<string> TokenAsync(string agent = "payments-bot") =>
        TestTokens.MintAsync(Keys.Tokens, "acme", agent);

    /// <summary>A CheckRequest as Envoy sends it for an MCP tools/call of <paramref name="tool"/> to its ToolServer.</summary>
    public static CheckRequest Check(string token, string tool, string args, string? overrideToken = null)
    {
        var (server, name) = WireCalls.Split(tool);
        var http = new AttributeContext.Types.HttpRequest
        {
            Method = "POST", Host = WireCalls.HostFor(server), Path = WireCalls.McpPath, Scheme = "http", Protocol = "HTTP/1.1", Body = WireCalls.ToolsCall(name, args),
        };
        http.Headers["authorization"] = "Bearer " + token;
        http.Headers["content-type"] = "application/json";
        if (overrideToken is not null)
        {
            http.Headers["x-aegis-override"] = overrideToken;
        }

        return new CheckRequest { Attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } } };
    }

    public static string? Header(CheckResponse response, string name) =>
        response.DeniedResponse?.Headers.FirstOrDefault(h => h.Header.Key == name)?.Header.Value;

    /// <summary>
    /// Asks for a call that needs approval and returns the ApprovalRequest named in x-aegis-approval. Like an agent, it
    /// retries the same call when the filing took longer than the decision waits for it (the answer then says so).
    /// </summary>
    public async Task<string> RequestApprovalAsync(string token, string tool = "stripe.transfer", string args = """{"amount": 9000, "currency": "USD"}""")
    {
        CheckResponse response = null!;
        await Eventually.TrueAsync(async () =>
        {
            response = await ExtAuthz.CheckAsync(Check(token, tool, args));
            Assert.Equal("rule_matched", response.Status.Message);
            return Header(response, "x-aegis-approval") is not null || !response.DeniedResponse.Body.Contains("retry the same call", StringComparison.Ordinal);
        }, "the ApprovalRequest filed", TimeSpan.FromSeconds(10));
        return Header(response, "x-aegis-approval") ?? throw new Xunit.Sdk.XunitException("no x-aegis-approval header: " + response.DeniedResponse.Body);
    }

    public JsonObject Request(string name) => Api.Objects("aegis.dev", "approvalrequests", "fin").Single(o => o["metadata"]!["name"]!.ToString() == name);

    public string? Phase(string name) => Request(name)["status"]?["phase"]?.ToString();

    /// <summary>Posts a click to /slack/interactions, signed as Slack signs (or with a given signature).</summary>
    public async Task<HttpResponseMessage> ClickAsync(string user, string name, bool approve = true, DateTimeOffset? sentAt = null, string? signature = null)
    {
        var body = SlackInteractionRequests.ClickBody(user, approve ? "aegis_approve" : "aegis_deny", "fin/" + name, Channel, responseUrl: Slack.ResponseUrl);
        using var request = SlackInteractionRequests.SignedPost("/slack/interactions", body, SigningSecret, sentAt ?? DateTimeOffset.UtcNow, signature);
        return await OperatorHttp.SendAsync(request);
    }

    public async Task<HttpResponseMessage> FetchAsync(string name, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/approvals/" + name);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await OperatorHttp.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        if (Decisions is not null)
        {
            await Decisions.DisposeAsync();
        }

        OperatorHttp?.Dispose();
        if (Operator is not null)
        {
            await Operator.StopAsync();
            await Operator.DisposeAsync();
        }

        if (Slack is not null)
        {
            await Slack.DisposeAsync();
        }

        Client?.Dispose();
        if (Api is not null)
        {
            await Api.DisposeAsync();
        }

        Keys.Dispose();
    }

    private sealed class DisposeAction(Action action) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            action();
            return ValueTask.CompletedTask;
        }
    }
}
