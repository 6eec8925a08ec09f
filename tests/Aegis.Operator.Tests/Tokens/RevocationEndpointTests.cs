using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Aegis.Contracts.Wire;
using Aegis.Operator.Hosting;
using Aegis.Operator.Keys;
using Aegis.Operator.Tokens;
using Aegis.State;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Microsoft.AspNetCore.Builder;

namespace Aegis.Operator.Tests.Tokens;

/// <summary><c>POST /v1/revocations</c> against the test API server's TokenReview, SubjectAccessReview and RBAC, and a real Redis.</summary>
public sealed class RevocationEndpointTests : IAsyncLifetime
{
    private readonly OperatorSigningKeys _keys = OperatorSigningKeys.Generate();
    private KubernetesTestServer _api = null!;
    private Kubernetes _client = null!;
    private RedisServer _redis = null!;
    private RedisState _state = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _state = await RedisState.ConnectAsync(_redis.Configuration);
        _api = await KubernetesTestServer.StartAsync();
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _api.Url });
        await RevokersAsync(_client, _api);
        _app = OperatorHost.Build(new OperatorOptions { Client = _client, Namespace = "aegis-system", Keys = _keys, Identity = "operator-0", HttpPort = 0, Revocations = _state.TokenIds });
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{LoopbackPorts.BoundPort(_app)}") };
    }

    /// <summary>
    /// RBAC as a cluster admin would write it: alice may revoke anything, bob only tenant acme's tokens (resourceNames),
    /// mallory is a valid user with no such permission.
    /// </summary>
    internal static async Task RevokersAsync(IKubernetes client, KubernetesTestServer api)
    {
        api.AddUser("alice-token", "alice", "security");
        api.AddUser("bob-token", "bob");
        api.AddUser("mallory-token", "mallory", "developers");
        foreach (var (name, names) in new[] { ("aegis-token-revoker", (string[]?)null), ("acme-token-revoker", ["acme"]) })
        {
            await client.RbacAuthorizationV1.CreateClusterRoleAsync(new k8s.Models.V1ClusterRole
            {
                Metadata = new k8s.Models.V1ObjectMeta { Name = name },
                Rules = [new k8s.Models.V1PolicyRule { ApiGroups = [RevocationEndpoint.Group], Resources = [RevocationEndpoint.Resource], Verbs = [RevocationEndpoint.Verb], ResourceNames = names }],
            });
        }

        foreach (var (binding, role, kind, subject) in new[] { ("security", "aegis-token-revoker", "Group", "security"), ("bob", "acme-token-revoker", "User", "bob") })
        {
            await client.RbacAuthorizationV1.CreateClusterRoleBindingAsync(new k8s.Models.V1ClusterRoleBinding
            {
                Metadata = new k8s.Models.V1ObjectMeta { Name = binding },
                RoleRef = new k8s.Models.V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = role },
                Subjects = [new k8s.Models.Rbacv1Subject { Kind = kind, Name = subject, ApiGroup = "rbac.authorization.k8s.io" }],
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _client.Dispose();
        await _api.DisposeAsync();
        await _state.DisposeAsync();
        await _redis.DisposeAsync();
        _keys.Dispose();
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> RevokeAsync(string? credential, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, TokenRevocationRequest.Path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (credential is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }

        using var response = await _http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public static TheoryData<string, string?, string, HttpStatusCode, string?> Cases() => new()
    {
        { "no credentials", null, TokenRevocationRequest.Write("j1", null, null, null), HttpStatusCode.Unauthorized, "credentials_missing" },
        { "a token Kubernetes does not know", "forged-token", TokenRevocationRequest.Write("j1", null, null, null), HttpStatusCode.Unauthorized, "credentials_invalid" },
        { "a user without the permission", "mallory-token", TokenRevocationRequest.Write(null, "acme", "bot", null), HttpStatusCode.Forbidden, "forbidden" },
        { "a tenant-limited user, another tenant", "bob-token", TokenRevocationRequest.Write(null, "globex", "bot", null), HttpStatusCode.Forbidden, "forbidden" },
        { "a tenant-limited user, any jti", "bob-token", TokenRevocationRequest.Write("j1", null, null, null), HttpStatusCode.Forbidden, "forbidden" },
        { "a tenant-limited user, own tenant", "bob-token", TokenRevocationRequest.Write(null, "acme", "bot", "leaked"), HttpStatusCode.Created, null },
        { "a tenant-limited user, jti within own tenant", "bob-token", TokenRevocationRequest.Write("j2", "acme", null, null), HttpStatusCode.Created, null },
        { "a revoker, by jti", "alice-token", TokenRevocationRequest.Write("j3", null, null, null), HttpStatusCode.Created, null },
        { "agent without tenant", "alice-token", """{"agent_id":"bot"}""", HttpStatusCode.BadRequest, "request_invalid" },
        { "both jti and agent", "alice-token", """{"jti":"j","agent_id":"bot","tenant":"acme"}""", HttpStatusCode.BadRequest, "request_invalid" },
        { "not JSON", "alice-token", "revoke everything", HttpStatusCode.BadRequest, "request_invalid" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Revoke_Caller_AuthenticatedByTokenReviewAndAuthorizedByRbac(string name, string? credential, string body, HttpStatusCode status, string? error)
    {
        var (actual, answer) = await RevokeAsync(credential, body);

        Assert.True(status == actual, $"{name}: {actual} {answer}");
        Assert.Equal(error, answer?["error"]?.ToString());
        var stored = (await _state.TokenIds.ListRevocationsAsync(-1, DateTimeOffset.UtcNow, TestContext.Current.CancellationToken))!.Revocations;
        Assert.Equal(status == HttpStatusCode.Created ? 1 : 0, stored.Count);
        if (status == HttpStatusCode.Created)
        {
            Assert.Equal(credential == "bob-token" ? "bob" : "alice", stored[0].RevokedBy);
            Assert.Equal(answer!["revokedBy"]!.ToString(), stored[0].RevokedBy);
        }
    }

    [Fact]
    public async Task Revoke_OperatorWithoutRedis_AnswersUnavailableAndRecordsNothing()
    {
        var app = OperatorHost.Build(new OperatorOptions { Client = _client, Namespace = "aegis-system", Keys = _keys, Identity = "operator-1", HttpPort = 0 });
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{LoopbackPorts.BoundPort(app)}") };
            using var request = new HttpRequestMessage(HttpMethod.Post, TokenRevocationRequest.Path) { Content = new StringContent(TokenRevocationRequest.Write("j", null, null, null)) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "alice-token");
            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("revocation_store_unavailable", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }
}
