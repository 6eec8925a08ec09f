using System.Net.Http.Headers;
using System.Text;
using Aegis.Contracts.State;
using Aegis.Decision.Hosting;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Grpc.Net.Client;

namespace Aegis.Attacks;

/// <summary>
/// A real decision server on loopback (ext_authz over gRPC, the JSON API over HTTP) on a bundle folder signed with
/// its own keys, one per purpose; the agent's view of it: tokens, CheckRequests, JSON decisions.
/// </summary>
public sealed class AttackHarness : IAsyncDisposable
{
    /// <summary>The issuer the server trusts; tokens from <see cref="TokenAsync"/> carry it.</summary>
    public const string Issuer = AgentTokens.OperatorIssuer;

    private readonly TempDirectory _dir = new();
    private RunningDecisionServer? _server;
    private GrpcChannel? _channel;

    private AttackHarness()
    {
    }

    public LocalEd25519Signer BundleKey { get; } = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
    public LocalEd25519Signer TokenKey { get; } = LocalEd25519Signer.Generate(KeyPurpose.Token);
    public LocalEd25519Signer AuditKey { get; } = LocalEd25519Signer.Generate(KeyPurpose.Audit);
    public string BundleDir => Path.Combine(_dir.Path, "bundles");
    public string JwksPath => Path.Combine(_dir.Path, "jwks.json");
    public RunningDecisionServer Server => _server!;
    public Authorization.AuthorizationClient ExtAuthz { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    /// <summary>Starts a server on <paramref name="yaml"/> (every tenant in it signed with <see cref="BundleKey"/>).</summary>
    public static async Task<AttackHarness> StartAsync(string yaml, DecisionState? state = null, string? adminToken = null, AttackHarness? shareKeysWith = null)
    {
        var h = new AttackHarness();
        Directory.CreateDirectory(h.BundleDir);
        var keys = shareKeysWith ?? h;
        File.WriteAllText(h.JwksPath, new JsonWebKeySet([keys.BundleKey.PublicJwk, keys.TokenKey.PublicJwk, keys.AuditKey.PublicJwk]).ToJson());
        await h.PublishAsync(yaml, keys.BundleKey);
        h._server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleDirectory = h.BundleDir,
            JwksPath = h.JwksPath,
            Region = "eu-west-1",
            GrpcPort = 0,
            HttpPort = 0,
            BundleRescan = TimeSpan.FromMilliseconds(200),
            State = state,
            AdminToken = adminToken,
            RevocationRefresh = TimeSpan.FromMilliseconds(200),
            RevocationMaxStaleness = TimeSpan.FromSeconds(2),
        });
        h._channel = GrpcChannel.ForAddress($"http://127.0.0.1:{h._server.GrpcPort}");
        h.ExtAuthz = new Authorization.AuthorizationClient(h._channel);
        h.Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{h._server.HttpPort}") };
        return h;
    }

    /// <summary>Compiles and signs every tenant of <paramref name="yaml"/> into the bundle folder with <paramref name="signer"/>.</summary>
    public async Task PublishAsync(string yaml, ISigner signer)
    {
        var load = PolicyFixtures.LoadValid(yaml);
        foreach (var tenant in BundleCompiler.Tenants(load))
        {
            var path = Path.Combine(BundleDir, tenant + ".tar.gz");
            File.WriteAllBytes(path + ".tmp", await BundleArchive.SignAndPackAsync(BundleCompiler.Compile(tenant, load.Objects), signer));
            File.Move(path + ".tmp", path, overwrite: true);
        }
    }

    /// <summary>A token as the operator's token service mints it (its key unless <paramref name="signer"/> says otherwise).</summary>
    public Task<string> TokenAsync(string agent = "payments-bot", string tenant = "acme", string issuer = Issuer, string audience = AgentTokens.DefaultAudience, ISigner? signer = null) =>
        AgentTokens.MintAsync(signer ?? TokenKey, new TokenGrant { Issuer = issuer, Audience = audience, Tenant = tenant, AgentId = agent, Scopes = ["pay"] },
            DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));

    /// <summary>A CheckRequest as Envoy sends it.</summary>
    public static CheckRequest Check(string? token, string host, string path, string method = "GET", string? tool = null, string? body = null, IDictionary<string, string>? headers = null)
    {
        var http = new AttributeContext.Types.HttpRequest { Method = method, Host = host, Path = path, Scheme = "http", Protocol = "HTTP/1.1", Body = body ?? "" };
        if (token is not null)
        {
            http.Headers["authorization"] = "Bearer " + token;
        }

        if (tool is not null)
        {
            http.Headers["x-aegis-tool"] = tool;
        }

        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
        {
            http.Headers[k] = v;
        }

        return new CheckRequest { Attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } } };
    }

    /// <summary><c>POST /v1/decide</c> with the agent's token; the answer's status and JSON.</summary>
    public async Task<(int Status, System.Text.Json.Nodes.JsonNode Body)> DecideAsync(string token, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await Http.SendAsync(request);
        return ((int)response.StatusCode, System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        _channel?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        BundleKey.Dispose();
        TokenKey.Dispose();
        AuditKey.Dispose();
        _dir.Dispose();
    }
}
