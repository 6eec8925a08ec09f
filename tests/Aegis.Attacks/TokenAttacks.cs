using System.Net;
using System.Text.Json;
using Aegis.Contracts.Wire;
using Aegis.Operator.Hosting;
using Aegis.Operator.Keys;
using Aegis.Operator.Tokens;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.State;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Aegis.Decision.Tests;
using static Aegis.Attacks.Attack;

namespace Aegis.Attacks;

/// <summary>
/// The agent holds a token, or steals one: every claim it could bend is checked, and a token that was revoked, or
/// that nobody can tell is not revoked, is refused on every replica.
/// </summary>
public class TokenAttacks
{
    internal const string Policy = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: pay, namespace: fin }
        spec:
          tenant: acme
          rules: [ { name: tools, match: { tools: ["stripe.*"] }, effect: allow } ]
        """;

    private static async Task<(int Code, string Reason)> CallAsync(ServerFixture h, string token)
    {
        var response = await h.Client.CheckAsync(ServerFixture.Check(token, tool: "stripe.transfer", body: """{"amount": 1}""", host: "tools.internal", path: "/call", method: "POST"));
        return (response.Status.Code, response.Status.Message);
    }

    internal static string Jti(string token)
    {
        Assert.True(CompactJws.TryParse(token, out var jws, out _));
        using var doc = JsonDocument.Parse(jws.Payload);
        return doc.RootElement.GetProperty("jti").GetString()!;
    }

    public static TheoryData<string, string, string> ForgedClaims() => new()
    {
        { "another issuer minted it", "iss", TokenRejection.IssuerInvalid },
        { "minted for another audience", "aud", TokenRejection.AudienceInvalid },
    };

    [Theory]
    [MemberData(nameof(ForgedClaims))]
    public async Task Token_IssuerOrAudienceNotOurs_RefusedOverExtAuthz(string attack, string claim, string reason)
    {
        await using var h = await Start(Policy);
        var token = claim == "iss" ? await h.TokenAsync(issuer: "someone-else") : await h.TokenAsync(audience: "billing-api");

        var (code, actual) = await CallAsync(h, token);

        Assert.True((16, reason) == (code, actual), attack);
        Assert.Equal((0, ""), await CallAsync(h, await h.TokenAsync()));
    }

    [Fact]
    public async Task StolenToken_RevokedByJtiStandalone_RefusedOnTheNextCall()
    {
        await using var h = await Start(Policy, adminToken: "admin-secret-0123456789abcdef0123456789");
        using var dir = new TempDirectory();
        var adminFile = dir.Write("admin-token", "admin-secret-0123456789abcdef0123456789\n");
        var stolen = await h.TokenAsync();
        var other = await h.TokenAsync();
        Assert.Equal(0, (await CallAsync(h, stolen)).Code);

        var run = await Cli("tokens", "revoke", "--jti", Jti(stolen), "--reason", "leaked in a log", "--server", h.Http.BaseAddress!.ToString(), "--admin-token-file", adminFile);

        Assert.True(run.Exit == 0, run.Err);
        Assert.Equal((16, TokenRejection.Revoked), await CallAsync(h, stolen));
        Assert.Equal(0, (await CallAsync(h, other)).Code);
    }

    [Fact]
    public async Task AgentCompromised_RevokedByAgent_EveryEarlierTokenRefusedButANewOneWorks()
    {
        await using var h = await Start(Policy, adminToken: "admin-secret-0123456789abcdef0123456789");
        var earlier = await h.TokenAsync("payments-bot");
        using var request = new HttpRequestMessage(HttpMethod.Post, TokenRevocationRequest.Path) { Content = new StringContent(TokenRevocationRequest.Write(null, "acme", "payments-bot", "prompt-injected")) };
        request.Headers.Authorization = new("Bearer", "admin-secret-0123456789abcdef0123456789");
        using var response = await h.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);

        Assert.Equal((16, TokenRejection.Revoked), await CallAsync(h, earlier));
        Assert.Equal(0, (await CallAsync(h, await h.TokenAsync("other-bot"))).Code);

        // Revocation is by issue time (whole seconds): a token minted after it works.
        await Task.Delay(TimeSpan.FromSeconds(1.1));
        Assert.Equal(0, (await CallAsync(h, await h.TokenAsync("payments-bot"))).Code);
    }

    [Fact]
    public async Task Revocation_WithoutTheStandaloneAdminToken_Refused()
    {
        await using var h = await Start(Policy, adminToken: "admin-secret-0123456789abcdef0123456789");
        using var dir = new TempDirectory();
        var token = await h.TokenAsync();

        var run = await Cli("tokens", "revoke", "--jti", Jti(token), "--server", h.Http.BaseAddress!.ToString(), "--admin-token-file", dir.Write("guess", "admin-secret-guess"));

        Assert.Equal(1, run.Exit);
        Assert.Contains("admin_token_invalid", run.Err, StringComparison.Ordinal);
        Assert.Equal(0, (await CallAsync(h, token)).Code);
    }

    [Fact]
    public async Task RevocationListUnreadable_RedisDownAtStart_EveryTokenRefusedUntilItIsBack()
    {
        await using var redis = await RedisServer.StartAsync();
        await redis.StopAsync();
        await using var state = await RedisState.ConnectAsync(redis.Configuration);
        await using var h = await Start(Policy, state.AsDecisionState());
        var token = await h.TokenAsync();

        Assert.Equal((16, TokenRejection.RevocationUnknown), await CallAsync(h, token));

        await redis.StartAgainAsync();
        await Eventually.TrueAsync(async () => (await CallAsync(h, token)).Code == 0, "tokens accepted once the revocation list is readable", TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task StolenToken_RevokedThroughTheOperator_RefusedOnEveryReplicaWithinSeconds()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var stateA = await RedisState.ConnectAsync(redis.Configuration);
        await using var stateB = await RedisState.ConnectAsync(redis.Configuration);
        await using var a = await Start(Policy, stateA.AsDecisionState());
        await using var b = await Start(Policy, stateB.AsDecisionState(), shareKeysWith: a);
        await using var op = await OperatorWithRevokersAsync(redis.Configuration);
        using var dir = new TempDirectory();
        var stolen = await a.TokenAsync("payments-bot");
        Assert.Equal((0, 0), ((await CallAsync(a, stolen)).Code, (await CallAsync(b, stolen)).Code));

        // Someone with a Kubernetes identity but no permission cannot revoke (a compromised agent's own ServiceAccount, say).
        var denied = await Cli("tokens", "revoke", "--agent", "payments-bot", "--tenant", "acme", "--operator", op.Url, "--k8s-token-file", dir.Write("mallory", "mallory-token"));
        Assert.Equal(1, denied.Exit);
        Assert.Contains("forbidden", denied.Err, StringComparison.Ordinal);
        Assert.Equal(0, (await CallAsync(b, stolen)).Code);

        var run = await Cli("tokens", "revoke", "--agent", "payments-bot", "--tenant", "acme", "--reason", "exfiltrated", "--operator", op.Url, "--k8s-token-file", dir.Write("alice", "alice-token"));

        Assert.True(run.Exit == 0, run.Err);
        await Eventually.TrueAsync(async () => (await CallAsync(a, stolen)).Reason == TokenRejection.Revoked && (await CallAsync(b, stolen)).Reason == TokenRejection.Revoked,
            "both replicas refusing the revoked token", TimeSpan.FromSeconds(5));
    }

    private static async Task<(int Exit, string Out, string Err)> Cli(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await Aegis.Cli.AegisCommand.RunAsync(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>An operator on the test API server (TokenReview, RBAC) writing revocations to Redis; alice may revoke, mallory may not.</summary>
    internal static async Task<RunningOperator> OperatorWithRevokersAsync(string redis)
    {
        var op = new RunningOperator();
        op.Api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        op.Client = new Kubernetes(new KubernetesClientConfiguration { Host = op.Api.Url });
        op.Api.AddUser("alice-token", "alice", "security");
        op.Api.AddUser("mallory-token", "system:serviceaccount:agents:payments-bot");
        foreach (var doc in Aegis.Policy.Loading.YamlJson.Parse(RevokerRbac, "rbac.yaml", []))
        {
            var kind = doc!["kind"]!.ToString();
            await op.Client.CustomObjects.CreateClusterCustomObjectAsync(doc, "rbac.authorization.k8s.io", "v1", kind == "ClusterRole" ? "clusterroles" : "clusterrolebindings");
        }

        op.State = await RedisState.ConnectAsync(redis);
        op.Keys = OperatorSigningKeys.Generate();
        op.App = OperatorHost.Build(new OperatorOptions { Client = op.Client, Namespace = "aegis-system", Keys = op.Keys, Identity = "operator-0", HttpPort = 0, Revocations = op.State.TokenIds, Tokens = new TokenServiceOptions() });
        await op.App.StartAsync();
        op.Url = $"http://127.0.0.1:{LoopbackPorts.BoundPort(op.App)}/";
        return op;
    }

    // The chart's token-revoker ClusterRole, bound to the security group.
    private const string RevokerRbac = """
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: { name: aegis-token-revoker }
        rules: [ { apiGroups: ["aegis.dev"], resources: ["tokenrevocations"], verbs: ["create"] } ]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: { name: security-revokes-tokens }
        roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: aegis-token-revoker }
        subjects: [ { kind: Group, name: security, apiGroup: rbac.authorization.k8s.io } ]
        """;
}

/// <summary>An operator process for attacks, with what it runs on.</summary>
internal sealed class RunningOperator : IAsyncDisposable
{
    public KubernetesTestServer Api { get; set; } = null!;
    public Kubernetes Client { get; set; } = null!;
    public RedisState? State { get; set; }
    public OperatorSigningKeys Keys { get; set; } = null!;
    public Microsoft.AspNetCore.Builder.WebApplication App { get; set; } = null!;
    public string Url { get; set; } = "";

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Keys.Dispose();
        if (State is not null)
        {
            await State.DisposeAsync();
        }

        Client.Dispose();
        await Api.DisposeAsync();
    }
}
