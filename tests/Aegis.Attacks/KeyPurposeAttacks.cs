using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Aegis.Decision.Hosting;
using Aegis.Policy.Audit;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Grpc.Net.Client;
using k8s;
using Aegis.Decision.Tests;
using static Aegis.Attacks.Attack;

namespace Aegis.Attacks;

/// <summary>
/// Whoever gets hold of one key (a bundle key from CI, a token key from a pod) can sign only what that key is for:
/// a key published for one purpose is refused for every other, and a key published without one for everything.
/// </summary>
public class KeyPurposeAttacks
{
    private const string Lax = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: pay, namespace: fin }
        spec:
          tenant: acme
          rules: [ { name: everything, match: { tools: ["*"] }, effect: allow } ]
        """;

    [Fact]
    public async Task Token_SignedWithTheBundleKey_Refused()
    {
        await using var h = await Start(TokenAttacks.Policy);

        // Our minter refuses to, so sign the token input directly, as an attacker with the key would.
        var now = DateTimeOffset.UtcNow;
        var claims = $$"""{"iss":"{{ServerFixture.Issuer}}","aud":"aegis-decision","sub":"payments-bot","agent_id":"payments-bot","tenant":"acme","iat":{{now.ToUnixTimeSeconds()}},"exp":{{now.AddMinutes(5).ToUnixTimeSeconds()}},"jti":"forged"}""";
        var forged = await CompactJws.SignAsync(Encoding.UTF8.GetBytes(claims), h.Signer);

        var response = await h.Client.CheckAsync(ServerFixture.Check(forged, tool: "stripe.transfer", body: "{}", host: "tools.internal", path: "/call", method: "POST"));

        Assert.Equal((16, TokenRejection.KeyPurposeMismatch), (response.Status.Code, response.Status.Message));
    }

    [Fact]
    public async Task Bundle_SignedWithATokenKey_RefusedAndTheLastGoodBundleKept()
    {
        await using var h = await Start(TokenAttacks.Policy);
        var token = await h.TokenAsync();
        var before = h.Server.Bundles.Get("acme")!.Revision;

        await h.PublishAsync(Lax, h.TokenSigner);

        await Eventually.TrueAsync(() => h.Server.Bundles.Refusals.GetValueOrDefault(BundleRejection.KeyPurposeMismatch) > 0, "the bundle refused by purpose");
        Assert.Equal(before, h.Server.Bundles.Get("acme")!.Revision);
        var response = await h.Client.CheckAsync(ServerFixture.Check(token, tool: "github.delete_repo", body: "{}", host: "tools.internal", path: "/call", method: "POST"));
        Assert.Equal(7, response.Status.Code);
    }

    [Fact]
    public async Task AuditCheckpoint_SignedWithATokenKey_FailsVerification()
    {
        using var dir = new TempDirectory();
        await using var h = await Start(TokenAttacks.Policy);
        var chain = new Aegis.TestSupport.Audit.AuditChainBuilder("decision-0", h.AuditSigner, DateTimeOffset.UtcNow).Segment().Decisions(1, "deny");
        await chain.CheckpointAsync(by: h.TokenSigner);
        foreach (var segment in chain.Sources())
        {
            File.WriteAllBytes(Path.Combine(dir.Path, segment.Name), segment.Content);
        }

        var log = dir.Path;
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await Aegis.Cli.AegisCommand.RunAsync(["audit", "verify", log, "--jwks", h.JwksPath], stdout, stderr);

        Assert.Equal(1, exit);
        Assert.Contains(Aegis.Policy.Audit.AuditProblems.CheckpointInvalid, stdout.ToString() + stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_PublishedWithoutAPurpose_RefusedForEverything()
    {
        await using var h = await Start(TokenAttacks.Policy);
        var token = await h.TokenAsync();

        // An old-style JWKS: the same keys, no aegis_purpose.
        File.WriteAllText(h.JwksPath, new JsonWebKeySet([h.Signer.PublicJwk with { Purpose = null }, h.TokenSigner.PublicJwk with { Purpose = null }]).ToJson());
        await Eventually.TrueAsync(async () => (await h.Client.CheckAsync(ServerFixture.Check(token, tool: "stripe.transfer", body: "{}", host: "tools.internal", path: "/call", method: "POST"))).Status.Message == TokenRejection.KeyPurposeMismatch,
            "the token refused once its key has no purpose");
        await h.PublishAsync(Lax, h.Signer);
        await Eventually.TrueAsync(() => h.Server.Bundles.Refusals.GetValueOrDefault(BundleRejection.KeyPurposeMismatch) > 0, "the bundle refused");
    }

    [Fact]
    public async Task OperatorsBundleKey_CannotMintTokensTheDecisionServersAccept()
    {
        await using var op = await TokenAttacks.OperatorWithRevokersAsync("127.0.0.1:1");
        await op.Client.CoreV1.CreateNamespaceAsync(new k8s.Models.V1Namespace
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = "fin", Labels = new Dictionary<string, string> { [Aegis.Operator.Tenants.TenantBinding.Label] = "acme" } },
        });
        await op.Client.CustomObjects.CreateNamespacedCustomObjectAsync(Aegis.Policy.Loading.YamlJson.Parse(TokenAttacks.Policy, "p.yaml", []).Single()!, "aegis.dev", "v1alpha1", "fin", "agentpolicies");
        await op.Client.CustomObjects.CreateNamespacedCustomObjectAsync(Aegis.Policy.Loading.YamlJson.Parse(Attack.ToolServers, "t.yaml", []).First(d => d?["metadata"]?["name"]?.ToString() == "stripe")!, "aegis.dev", "v1alpha1", "fin", "toolservers");
        using var http = new HttpClient { BaseAddress = new Uri(op.Url) };
        await Eventually.TrueAsync(async () => (await http.GetAsync("bundles/acme")).StatusCode == HttpStatusCode.OK, "the operator serving acme's bundle");
        await using var server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleUrl = op.Url + "bundles/{tenant}",
            JwksUrl = new Uri(op.Url + ".well-known/jwks.json"),
            Tenants = ["acme"],
            GrpcPort = 0,
            HttpPort = 0,
        });
        await Eventually.TrueAsync(() => server.Bundles.Get("acme") is not null, "the decision server holding acme's bundle");
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.GrpcPort}");
        var client = new Decision.Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient(channel);
        var now = DateTimeOffset.UtcNow;
        var claims = $$"""{"iss":"aegis-operator","aud":"aegis-decision","sub":"a","agent_id":"a","tenant":"acme","iat":{{now.ToUnixTimeSeconds()}},"exp":{{now.AddMinutes(5).ToUnixTimeSeconds()}},"jti":"x"}""";

        var withBundleKey = await CompactJws.SignAsync(Encoding.UTF8.GetBytes(claims), op.Keys.Bundles);
        var withTokenKey = await CompactJws.SignAsync(Encoding.UTF8.GetBytes(claims), op.Keys.Tokens);

        Assert.Equal(TokenRejection.KeyPurposeMismatch, (await client.CheckAsync(ServerFixture.Check(withBundleKey, tool: "stripe.transfer", body: "{}", host: "tools.internal", path: "/call", method: "POST"))).Status.Message);
        var honest = await client.CheckAsync(ServerFixture.Check(withTokenKey, tool: "stripe.transfer", body: "{}", host: "tools.internal", path: "/call", method: "POST"));
        Assert.True(honest.Status.Code == 0, honest.Status.Message + " " + honest.DeniedResponse?.Body);
    }
}
