using Aegis.Decision.Hosting;
using Aegis.Contracts.State;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Grpc.Net.Client;

namespace Aegis.Decision.Tests;

/// <summary>
/// A real decision server on loopback (Kestrel, h2c gRPC and HTTP) over a bundle folder signed with a test key,
/// with helpers to mint tokens, publish bundles and build CheckRequests the way Envoy sends them.
/// </summary>
public sealed class ServerFixture : IAsyncDisposable
{
    public const string Policies = """
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
              approval: { approvers: ["group:finance"] }
            - { name: stripe-api, match: { egress: { hosts: ["api.stripe.com"], paths: ["/v1/*"] } }, effect: allow }
            - name: crm
              match: { tools: ["crm.*"] }
              effect: sanitize
              redact: [ { detector: email } ]
            - { name: llm, match: { tools: ["openai.*"] }, effect: allow }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentBudget
        metadata: { name: llm, namespace: fin }
        spec:
          tenant: acme
          agents: ["payments-*"]
          daily: "1.00"
          rateLimit: { requestsPerMinute: 60, burst: 3 }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: openai, namespace: fin }
        spec:
          tenant: acme
          protocol: mcp
          url: https://openai.tools.test/mcp
          prices: [ { tools: ["openai.*"], perCall: "0.40" } ]
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: fin }
        spec: { tenant: acme, protocol: mcp, url: "https://stripe.tools.test/mcp" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: crm, namespace: fin }
        spec: { tenant: acme, protocol: mcp, url: "https://crm.tools.test/mcp" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: other, namespace: globex }
        spec:
          tenant: globex
          rules: [ { name: all, match: { tools: ["*"] }, effect: allow } ]
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: other, namespace: globex }
        spec: { tenant: globex, protocol: mcp, url: "https://other.tools.test/mcp" }
        """;

    /// <summary>The admin token of the standalone desk, when started with one.</summary>
    public const string AdminToken = "test-admin-token-0123456789abcdef0123456789";

    private readonly TempDirectory _dir = new();
    private readonly LocalEd25519Signer _signer;
    private readonly LocalEd25519Signer _tokenSigner;
    private readonly LocalEd25519Signer _auditSigner;
    private readonly bool _ownsSigner;
    private RunningDecisionServer? _server;
    private GrpcChannel? _channel;

    private ServerFixture(ServerFixture? shareKeysWith)
    {
        _ownsSigner = shareKeysWith is null;
        _signer = shareKeysWith?._signer ?? LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        _tokenSigner = shareKeysWith?._tokenSigner ?? LocalEd25519Signer.Generate(KeyPurpose.Token);
        _auditSigner = shareKeysWith?._auditSigner ?? LocalEd25519Signer.Generate(KeyPurpose.Audit);
    }

    /// <summary>The iss tokens must carry (what <see cref="TokenAsync"/> mints).</summary>
    public const string Issuer = "test";

    public string BundleDir => Path.Combine(_dir.Path, "bundles");
    public string JwksPath => Path.Combine(_dir.Path, "jwks.json");

    /// <summary>The audit folder (replica "test"), when started with audit.</summary>
    public string AuditDir => Path.Combine(_dir.Path, "audit");

    /// <summary>Every line of every audit segment, parsed, in seq order.</summary>
    public List<System.Text.Json.Nodes.JsonObject> AuditLines() =>
        [.. Directory.GetFiles(AuditDir, "*.jsonl").Order(StringComparer.Ordinal)
            .SelectMany(f => ReadShared(f).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!.AsObject())];

    /// <summary>The decision records, in order.</summary>
    public List<System.Text.Json.Nodes.JsonObject> AuditDecisions() => [.. AuditLines().Where(l => l["type"]!.GetValue<string>() == "decision")];

    /// <summary>Reads a file the server is still appending to.</summary>
    public static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public Aegis.Policy.Audit.AuditKeys AuditKeys => Aegis.Policy.Audit.AuditKeys.Parse(Aegis.Policy.Audit.AuditKeys.Jwks(AuditSigner.PublicJwk));
    public JsonWebKeySet Jwks => new([_signer.PublicJwk, _tokenSigner.PublicJwk, _auditSigner.PublicJwk]);

    /// <summary>The bundle key.</summary>
    public LocalEd25519Signer Signer => _signer;

    /// <summary>The token key.</summary>
    public LocalEd25519Signer TokenSigner => _tokenSigner;

    /// <summary>The audit checkpoint key (a key of its own: audit checkpoints never share the bundle key).</summary>
    public LocalEd25519Signer AuditSigner => _auditSigner;
    public RunningDecisionServer Server => _server!;
    public Authorization.AuthorizationClient Client { get; private set; } = null!;
    public ExternalProcessor.ExternalProcessorClient ExtProc { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public static async Task<ServerFixture> StartAsync(string yaml = Policies, string? region = "eu-west-1", IReadOnlyList<string>? tenants = null, bool publish = true, DecisionState? state = null, ServerFixture? shareKeysWith = null, bool audit = false, string? adminToken = null, TimeSpan? revocationMaxStaleness = null, string? meterSecret = null, bool desk = false)
    {
        var fixture = new ServerFixture(shareKeysWith);
        Directory.CreateDirectory(fixture.BundleDir);
        File.WriteAllText(fixture.JwksPath, fixture.Jwks.ToJson());
        if (publish)
        {
            await fixture.PublishAsync(yaml);
        }

        fixture._server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleDirectory = fixture.BundleDir,
            JwksPath = fixture.JwksPath,
            Region = region,
            Tenants = tenants ?? [],
            GrpcPort = 0,
            HttpPort = 0,
            BundleRescan = TimeSpan.FromMilliseconds(200),
            State = state,
            Audit = audit ? new Aegis.Decision.Audit.DecisionAuditOptions { Log = new() { Directory = fixture.AuditDir, Replica = "test", Signer = fixture.AuditSigner } } : null,
            TokenIssuer = Issuer,
            AdminToken = desk ? adminToken ?? AdminToken : adminToken,
            RevocationRefresh = TimeSpan.FromMilliseconds(100),
            RevocationMaxStaleness = revocationMaxStaleness ?? TimeSpan.FromSeconds(5),
            MeterSecret = meterSecret,
            StandaloneApprovals = desk,
        });
        fixture._channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture._server.GrpcPort}");
        fixture.Client = new Authorization.AuthorizationClient(fixture._channel);
        fixture.ExtProc = new ExternalProcessor.ExternalProcessorClient(fixture._channel);
        fixture.Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture._server.HttpPort}") };
        return fixture;
    }

    /// <summary>Compiles and signs every tenant of <paramref name="yaml"/> into the bundle folder; returns revisions.</summary>
    public async Task<Dictionary<string, string>> PublishAsync(string yaml, ISigner? signer = null)
    {
        var load = PolicyFixtures.LoadValid(yaml);
        var revisions = new Dictionary<string, string>();
        foreach (var tenant in BundleCompiler.Tenants(load))
        {
            var content = BundleCompiler.Compile(tenant, load.Objects);
            var bytes = await BundleArchive.SignAndPackAsync(content, signer ?? _signer);
            var path = Path.Combine(BundleDir, tenant + ".tar.gz");
            File.WriteAllBytes(path + ".tmp", bytes);
            File.Move(path + ".tmp", path, overwrite: true);
            revisions[tenant] = content.Revision;
        }

        return revisions;
    }

    public Task<string> TokenAsync(string agent = "payments-bot", string tenant = "acme", TimeSpan? lifetime = null, IReadOnlyDictionary<string, object>? extra = null, ISigner? signer = null, string issuer = Issuer, string audience = AgentTokens.DefaultAudience, DateTimeOffset? issuedAt = null) =>
        AgentTokens.MintAsync(signer ?? _tokenSigner, new TokenGrant { Issuer = issuer, Audience = audience, Tenant = tenant, AgentId = agent, Org = "acme-corp", Scopes = ["pay"], Extra = extra },
            issuedAt ?? DateTimeOffset.UtcNow, lifetime ?? TimeSpan.FromMinutes(5));

    /// <summary>
    /// A CheckRequest as Envoy sends it. With a <paramref name="tool"/> (and the default host), the request is what an
    /// MCP client sends for that tool: a tools/call POST to the tool's test ToolServer with <paramref name="body"/> as
    /// its arguments. Otherwise a plain HTTP request to <paramref name="host"/> with <paramref name="body"/>.
    /// </summary>
    public static CheckRequest Check(string? token, string? tool = null, string? body = null, string host = "tools.internal", string path = "/call", string method = "POST", IDictionary<string, string>? headers = null, IDictionary<string, string>? context = null)
    {
        if (tool is not null && host == "tools.internal")
        {
            var (server, name) = WireCalls.Split(tool);
            host = WireCalls.HostFor(server);
            path = WireCalls.McpPath;
            body = WireCalls.ToolsCall(name, string.IsNullOrEmpty(body) ? null : body);
        }

        var http = new AttributeContext.Types.HttpRequest { Method = method, Host = host, Path = path, Scheme = "http", Protocol = "HTTP/1.1", Body = body ?? "" };
        if (token is not null)
        {
            http.Headers["authorization"] = "Bearer " + token;
        }

        http.Headers["content-type"] = "application/json";
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
        {
            http.Headers[k] = v;
        }

        var attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } };
        foreach (var (k, v) in context ?? new Dictionary<string, string>())
        {
            attributes.ContextExtensions[k] = v;
        }

        return new CheckRequest { Attributes = attributes };
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        _channel?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_ownsSigner)
        {
            _signer.Dispose();
            _tokenSigner.Dispose();
            _auditSigner.Dispose();
        }

        AuditSigner.Dispose();
        _dir.Dispose();
    }
}
