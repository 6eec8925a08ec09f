using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aegis.Operator.Hosting;
using Aegis.Operator.Keys;
using Aegis.Operator.Tokens;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Aegis.Operator.Tests.Tokens;

public sealed class TokenServiceTests : IAsyncLifetime
{
    private readonly CapturedLogs _logs = new();
    private readonly OperatorSigningKeys _keys = OperatorSigningKeys.Generate();
    private KubernetesTestServer _api = null!;
    private Kubernetes _client = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private string _key = "";

    public async ValueTask InitializeAsync()
    {
        _api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _api.Url });
        var (key, grant) = OrgKeys.Create("ci-bot", "acme-org", ["acme"], ["billing-agent", "support-agent"], ["tools:call", "tools:read"]);
        _key = key;
        await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "aegis-org-keys", NamespaceProperty = "aegis-system" },
            Data = new Dictionary<string, byte[]> { ["ci-bot"] = OrgKeys.Serialize(grant) },
        }, "aegis-system");
        _app = OperatorHost.Build(new OperatorOptions
        {
            Client = _client,
            Namespace = "aegis-system",
            Keys = _keys,
            Identity = "operator-0",
            HttpPort = 0,
            Tokens = new TokenServiceOptions { PermitsPerKey = 5, PermitsPerClient = 1000 },
        }, logging => logging.AddProvider(_logs));
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{LoopbackPorts.BoundPort(_app)}") };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _client.Dispose();
        await _api.DisposeAsync();
        _keys.Dispose();
    }

    private async Task<HttpResponseMessage> RequestAsync(string key, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/token") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await _http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Token_GoodKey_MintsTokenThatVerifiesWithOnlyGrantedTenantAndScopes()
    {
        using var response = await RequestAsync(_key, new { agent_id = "billing-agent", tenant = "acme", scopes = new[] { "tools:read" } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var jwks = JsonWebKeySet.Parse(await _http.GetStringAsync("/.well-known/jwks.json", TestContext.Current.CancellationToken));
        var check = AgentTokens.Verify(body.RootElement.GetProperty("access_token").GetString()!, jwks, DateTimeOffset.UtcNow, TokenServiceOptions.Expectations(null));
        Assert.True(check.Token is not null, check.Message);
        Assert.Equal("acme", check.Token!.Tenant);
        Assert.Equal("billing-agent", check.Token.AgentId);
        Assert.Equal("acme-org", check.Token.Org);
        Assert.Equal(["tools:read"], check.Token.Scopes);
        Assert.True(check.Token.ExpiresAt - check.Token.IssuedAt <= AgentToken.MaxLifetime);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());

        // Signed with the token key, which the JWKS publishes for tokens only; the bundle key is another key.
        Assert.Equal(_keys.Tokens.KeyId, check.Token.KeyId);
        Assert.Equal(("aegis-operator", "aegis-decision"), (check.Token.Issuer, check.Token.Audience));
        Assert.Equal(KeyLookupStatus.PurposeMismatch, jwks.Find(_keys.Bundles.KeyId, KeyPurpose.Token).Status);
    }

    [Fact]
    public async Task Token_NoScopesRequested_GetsExactlyTheGrantedScopes()
    {
        using var response = await RequestAsync(_key, new { agent_id = "support-agent", tenant = "acme" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("tools:call tools:read", body.RootElement.GetProperty("scope").GetString());
    }

    [Fact]
    public async Task Token_WrongKey_Returns401AndLogsNoKeyMaterial()
    {
        Assert.True(OrgKeys.TryParse(_key, out _, out var secret));
        var wrong = _key[..^4] + (_key.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");

        using var response = await RequestAsync(wrong, new { agent_id = "billing-agent", tenant = "acme" });
        using var garbage = await RequestAsync("definitely-not-a-key", new { agent_id = "billing-agent", tenant = "acme" });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, garbage.StatusCode);
        var refusals = _logs.Lines.Where(l => l.Contains("token request refused", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, refusals.Count);
        Assert.Contains(refusals, l => l.Contains("ci-bot", StringComparison.Ordinal) && l.Contains("wrong secret", StringComparison.Ordinal));
        Assert.DoesNotContain(_logs.Lines, l => l.Contains(secret, StringComparison.Ordinal) || l.Contains(wrong[^20..], StringComparison.Ordinal) || l.Contains("definitely-not-a-key", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("globex", "billing-agent", "tools:read", "tenant")]
    [InlineData("acme", "payroll-agent", "tools:read", "agent_id")]
    [InlineData("acme", "billing-agent", "admin", "scopes")]
    public async Task Token_BeyondTheGrant_Returns403NamingTheField(string tenant, string agent, string scope, string field)
    {
        using var response = await RequestAsync(_key, new { agent_id = agent, tenant, scopes = new[] { scope } });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(field, body.RootElement.GetProperty("field").GetString());
        Assert.Equal("grant_exceeded", body.RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"agent_id\": 5, \"tenant\": \"acme\"}")]
    [InlineData("{\"tenant\": \"acme\"}")]
    [InlineData("{\"agent_id\": \"billing-agent\", \"tenant\": \"acme\", \"ttl_seconds\": 3600}")]
    public async Task Token_MalformedRequest_Returns400NotA500(string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/token") { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _key);

        using var response = await _http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Token_MoreRequestsThanThePerKeyLimit_Returns429WithRetryAfter()
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await RequestAsync(_key, new { agent_id = "billing-agent", tenant = "acme" });
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.NotNull(response.Headers.RetryAfter?.Delta);
            }
        }

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), HttpStatusCode.TooManyRequests], statuses);
    }
}
