using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Slack;
using k8s;

namespace Aegis.Operator.Tests.Approvals;

/// <summary>
/// The whole approval flow through real client code: ext_authz call → approval_needed → ApprovalRequest → Slack
/// message → signed click → Approved → the agent fetches its override → the retried call is allowed once.
/// </summary>
public class ApprovalFlowTests
{
    private const string Transfer = """{"amount": 9000, "currency": "USD"}""";

    [Fact]
    public async Task Flow_SlackApproval_RetriedCallAllowedOnceThenReplayDenied()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var token = await h.TokenAsync();

        var name = await h.RequestApprovalAsync(token);
        var filed = h.Request(name);
        Assert.Equal("payments-bot", filed["spec"]!["agentId"]!.ToString());
        Assert.Equal("fin/payments", filed["spec"]!["policy"]!.ToString());
        Assert.Equal("large", filed["spec"]!["rule"]!.ToString());
        using (var args = JsonDocument.Parse(Transfer))
        {
            Assert.Equal(AgentTokens.ArgsDigest(args.RootElement), filed["spec"]!["argsDigest"]!.ToString());
        }

        // The operator posts the ask with buttons and records where.
        await Eventually.TrueAsync(() => h.Request(name)["status"]?["slackMessageTs"] is not null, "the Slack message recorded in status");
        var posted = Assert.Single(h.Slack.Messages);
        Assert.Equal(ApprovalHarness.Channel, h.Request(name)["status"]!["slackChannel"]!.ToString());
        Assert.Contains(posted.Blocks!, b => b!["type"]!.ToString() == "actions");
        Assert.Contains("stripe.transfer", posted.Blocks!.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("<@U0BOB>", SlackText.Of(posted.Blocks), StringComparison.Ordinal);

        // Pending: the agent is told to wait.
        using (var pending = await h.FetchAsync(name, token))
        {
            Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
        }

        // Bob approves through the finance group.
        using (var click = await h.ClickAsync("U0BOB", name))
        {
            Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        }

        Assert.Equal("Approved", h.Phase(name));
        Assert.Equal("slack:U0BOB", h.Request(name)["status"]!["decidedBy"]!.ToString());
        await Eventually.TrueAsync(() => h.Slack.Messages.Single().Blocks!.All(b => b!["type"]!.ToString() != "actions"), "the Slack message updated to the outcome");
        Assert.Contains("Approved", h.Slack.Messages.Single().Blocks!.ToJsonString(), StringComparison.Ordinal);

        var grant = await FetchTokenAsync(h, name, token);
        var first = await h.ExtAuthz.CheckAsync(ApprovalHarness.Check(token, "stripe.transfer", """{ "currency": "USD", "amount": 9000 }""", grant));
        var replay = await h.ExtAuthz.CheckAsync(ApprovalHarness.Check(token, "stripe.transfer", Transfer, grant));

        Assert.Equal(0, first.Status.Code);
        Assert.Equal("override_replayed", replay.Status.Message);

        // Fetching again yields the same jti: one approval is one call, however often the agent asks.
        var again = await FetchTokenAsync(h, name, token);
        var third = await h.ExtAuthz.CheckAsync(ApprovalHarness.Check(token, "stripe.transfer", Transfer, again));
        Assert.Equal("override_replayed", third.Status.Message);
    }

    [Fact]
    public async Task Flow_StatusPatchedByHandWithoutDecidedAt_OperatorSettlesItUpdatesSlackAndServesToken()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var token = await h.TokenAsync();
        var name = await h.RequestApprovalAsync(token);
        await Eventually.TrueAsync(() => h.Request(name)["status"]?["slackMessageTs"] is not null, "the ask posted");

        // What `kubectl patch --subresource=status` by a person would do: no decidedAt.
        await h.Client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new k8s.Models.V1Patch("""{"status":{"phase":"Approved","decidedBy":"kubernetes:bob"}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "approvalrequests", name);

        await Eventually.TrueAsync(() => h.Request(name)["status"]?["decidedAt"] is not null, "decidedAt settled by the operator");
        await Eventually.TrueAsync(() => SlackText.Of(h.Slack.Messages.Single().Blocks).Contains("*Approved* by kubernetes:bob", StringComparison.Ordinal), "the Slack message updated");
        var grant = await FetchTokenAsync(h, name, token);
        var allowed = await h.ExtAuthz.CheckAsync(ApprovalHarness.Check(token, "stripe.transfer", Transfer, grant));
        Assert.Equal(0, allowed.Status.Code);
    }

    [Fact]
    public async Task File_IdenticalPendingCalls_CoalesceIntoOneRequest()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var token = await h.TokenAsync();

        var first = await h.RequestApprovalAsync(token);
        var second = await h.RequestApprovalAsync(token, args: """{"currency":"USD","amount":9000}""");
        var other = await h.RequestApprovalAsync(token, args: """{"amount": 9001, "currency": "USD"}""");
        var otherAgent = await h.RequestApprovalAsync(await h.TokenAsync("payments-2"));

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
        Assert.NotEqual(first, otherAgent);
        Assert.Equal(3, h.Api.Objects("aegis.dev", "approvalrequests", "fin").Count);
    }

    [Fact]
    public async Task Interaction_BadSignature_401AndStillPending()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var name = await h.RequestApprovalAsync(await h.TokenAsync());

        using var forged = await h.ClickAsync("U0BOB", name, signature: "v0=" + new string('0', 64));

        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        Assert.True(h.Phase(name) is null or "Pending", h.Phase(name));
    }

    [Fact]
    public async Task Interaction_TimestampOlderThan300Seconds_401AsReplay()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var name = await h.RequestApprovalAsync(await h.TokenAsync());

        // Correctly signed, but captured 301 s ago.
        using var replayed = await h.ClickAsync("U0BOB", name, sentAt: DateTimeOffset.UtcNow.AddSeconds(-301));

        Assert.Equal(HttpStatusCode.Unauthorized, replayed.StatusCode);
        Assert.Contains("replay", await replayed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(h.Phase(name) is null or "Pending", h.Phase(name));
    }

    [Fact]
    public async Task Interaction_UserNotAnApprover_StaysPending()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var token = await h.TokenAsync();
        var name = await h.RequestApprovalAsync(token);

        using var click = await h.ClickAsync("U0MALLORY", name);

        Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        await Eventually.TrueAsync(() => h.Slack.Responses.Any(r => r["text"]!.ToString().Contains("not an approver", StringComparison.Ordinal)), "the clicker told through response_url");
        Assert.Equal("ephemeral", h.Slack.Responses.Single()["response_type"]!.ToString());
        Assert.True(h.Phase(name) is null or "Pending", h.Phase(name));
        using var fetch = await h.FetchAsync(name, token);
        Assert.Equal(HttpStatusCode.Accepted, fetch.StatusCode);
    }

    [Fact]
    public async Task Interaction_Deny_DeniedAndNoToken()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var token = await h.TokenAsync();
        var name = await h.RequestApprovalAsync(token);

        using var click = await h.ClickAsync("U0ALICE", name, approve: false);

        Assert.Equal("Denied", h.Phase(name));
        JsonNode? body = null;
        await Eventually.TrueAsync(async () =>
        {
            using var fetch = await h.FetchAsync(name, token);
            body = JsonNode.Parse(await fetch.Content.ReadAsStringAsync());
            return body?["phase"]?.ToString() == "Denied";
        }, "the agent sees the denial");
        Assert.Null(body!["token"]);
    }

    [Fact]
    public async Task Fetch_AnotherAgentsRequest_403()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var name = await h.RequestApprovalAsync(await h.TokenAsync());
        await Eventually.TrueAsync(async () => (await h.FetchAsync(name, await h.TokenAsync())).StatusCode == HttpStatusCode.Accepted, "the request in the operator's cache");

        using var stranger = await h.FetchAsync(name, await h.TokenAsync("payments-2"));
        using var anonymous = await h.OperatorHttp.GetAsync("/v1/approvals/" + name);

        Assert.Equal(HttpStatusCode.Forbidden, stranger.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task Override_UsedForDifferentArguments_Denied()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var token = await h.TokenAsync();
        var name = await h.RequestApprovalAsync(token);
        using (await h.ClickAsync("U0ALICE", name))
        {
        }

        var grant = await FetchTokenAsync(h, name, token);
        var response = await h.ExtAuthz.CheckAsync(ApprovalHarness.Check(token, "stripe.transfer", """{"amount": 900000, "currency": "USD"}""", grant));

        Assert.Equal("override_invalid", response.Status.Message);
        Assert.Contains("approved for other arguments", response.DeniedResponse.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lifecycle_PendingPastExpiresAt_ExpiredAndMessageUpdated()
    {
        await using var h = await ApprovalHarness.StartAsync();
        var token = await h.TokenAsync();

        // The payouts rule gives approvers five seconds.
        var name = await h.RequestApprovalAsync(token, tool: "stripe.payout", args: """{"amount": 1}""");
        await Eventually.TrueAsync(() => h.Request(name)["status"]?["slackMessageTs"] is not null, "the ask posted");
        Assert.Null(h.Phase(name));

        await Eventually.TrueAsync(() => h.Phase(name) == "Expired", "the request expired");
        await Eventually.TrueAsync(() => h.Slack.Messages.Any(m => SlackText.Of(m.Blocks).Contains("*Expired*", StringComparison.Ordinal)), "the Slack message shows the expiry");
        using var late = await h.ClickAsync("U0ALICE", name);
        await Eventually.TrueAsync(() => h.Slack.Responses.Any(r => r["text"]!.ToString().Contains("Already expired", StringComparison.Ordinal)), "the late clicker told");
        Assert.Equal("Expired", h.Phase(name));
    }

    [Fact]
    public async Task File_OperatorUnreachable_StillApprovalNeededWithTheReason()
    {
        await using var h = await ApprovalHarness.StartAsync();
        await using var orphan = await Aegis.Decision.Hosting.DecisionServer.StartAsync(new Aegis.Decision.Hosting.DecisionServerOptions
        {
            BundleUrl = h.OperatorHttp.BaseAddress + "bundles/{tenant}",
            Tenants = ["acme"],
            JwksUrl = new Uri(h.OperatorHttp.BaseAddress + ".well-known/jwks.json"),
            ApprovalsUrl = new Uri($"http://127.0.0.1:{LoopbackPorts.Free()}/"),
            ApprovalsTimeout = TimeSpan.FromMilliseconds(300),
            GrpcPort = 0,
            HttpPort = 0,
        });
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{orphan.GrpcPort}");
        var client = new Aegis.Decision.Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient(channel);

        var response = await client.CheckAsync(ApprovalHarness.Check(await h.TokenAsync(), "stripe.transfer", Transfer));

        Assert.Equal(7, response.Status.Code);
        Assert.Null(ApprovalHarness.Header(response, "x-aegis-approval"));
        Assert.Equal("fin/payments/large", ApprovalHarness.Header(response, "x-aegis-approval-rule"));
        Assert.Contains("unreachable", JsonNode.Parse(response.DeniedResponse.Body)!["result"]!["_meta"]!["aegis.dev/decision"]!["approvalError"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task File_AgentClaimsARuleThatDoesNotAskForApproval_403()
    {
        await using var h = await ApprovalHarness.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/approvals")
        {
            Content = JsonContent.Create(new { tool = "stripe.transfer", args = new { amount = 1 }, policy = "fin/payments", rule = "small" }),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await h.TokenAsync());

        using var response = await h.OperatorHttp.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("does not ask for approval", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(h.Api.Objects("aegis.dev", "approvalrequests", "fin"));
    }

    private static async Task<string> FetchTokenAsync(ApprovalHarness h, string name, string token)
    {
        string? grant = null;
        await Eventually.TrueAsync(async () =>
        {
            using var response = await h.FetchAsync(name, token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return false;
            }

            grant = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["token"]?.ToString();
            return grant is not null;
        }, "the override token");
        var claims = AgentTokens.Verify(grant!, h.Keys.PublishedKeys, DateTimeOffset.UtcNow, Aegis.Operator.Tokens.TokenServiceOptions.Expectations(null)).Token!;
        Assert.Equal("once", claims.Use);
        Assert.True(claims.ExpiresAt - claims.IssuedAt <= TimeSpan.FromMinutes(10));
        return grant!;
    }
}
