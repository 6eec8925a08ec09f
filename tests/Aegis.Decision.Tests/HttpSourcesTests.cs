using System.Collections.Concurrent;
using Aegis.Decision.Hosting;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Aegis.Decision.Tests;

/// <summary>Bundles and keys over HTTP, from a small origin server that speaks ETag / If-None-Match like the operator.</summary>
public class HttpSourcesTests
{
    private sealed class Origin : IAsyncDisposable
    {
        private readonly WebApplication _app;

        public ConcurrentDictionary<string, byte[]> Bundles { get; } = new();
        public string Jwks { get; set; } = """{"keys":[]}""";
        public ConcurrentQueue<(string Tenant, int Status)> Requests { get; } = new();
        public int Port { get; private set; }

        public Origin()
        {
            _app = LoopbackPorts.CreateApp();
            _app.MapGet("/bundles/{tenant}", (string tenant, HttpRequest request, HttpResponse response) =>
            {
                if (!Bundles.TryGetValue(tenant, out var bytes))
                {
                    Requests.Enqueue((tenant, 404));
                    return Results.NotFound();
                }

                var etag = "\"" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))[..16] + "\"";
                if (request.Headers.IfNoneMatch.ToString() == etag)
                {
                    Requests.Enqueue((tenant, 304));
                    return Results.StatusCode(304);
                }

                Requests.Enqueue((tenant, 200));
                response.Headers.ETag = etag;
                return Results.Bytes(bytes, "application/gzip");
            });
            _app.MapGet("/.well-known/jwks.json", () => Results.Text(Jwks, "application/json"));
        }

        public async Task StartAsync()
        {
            await _app.StartAsync();
            Port = LoopbackPorts.BoundPort(_app);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private static async Task<byte[]> BundleAsync(string yaml, string tenant, ISigner signer) =>
        await BundleArchive.SignAndPackAsync(BundleCompiler.Compile(tenant, PolicyFixtures.LoadValid(yaml).Objects), signer);

    [Fact]
    public async Task BundleUrlAndJwksUrl_PolledWithIfNoneMatch_RotatedKeyAccepted()
    {
        await using var origin = new Origin();
        using var oldKey = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        using var newKey = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        using var oldTokenKey = LocalEd25519Signer.Generate(KeyPurpose.Token);
        using var newTokenKey = LocalEd25519Signer.Generate(KeyPurpose.Token);
        origin.Jwks = new JsonWebKeySet([oldKey.PublicJwk, oldTokenKey.PublicJwk]).ToJson();
        origin.Bundles["acme"] = await BundleAsync(ServerFixture.Policies, "acme", oldKey);
        await origin.StartAsync();

        await using var server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleUrl = $"http://127.0.0.1:{origin.Port}/bundles/{{tenant}}",
            BundlePoll = TimeSpan.FromMilliseconds(100),
            JwksUrl = new Uri($"http://127.0.0.1:{origin.Port}/.well-known/jwks.json"),
            JwksRefresh = TimeSpan.FromMilliseconds(100),
            Tenants = ["acme", "globex"],
            Region = "eu-west-1",
            GrpcPort = 0,
            HttpPort = 0,
        });
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.GrpcPort}");
        var client = new Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient(channel);
        var first = server.Bundles.Get("acme")!.Revision;

        // Unchanged bundles are answered 304 and cost no verification; a missing tenant's 404 keeps it unready.
        await Eventually.TrueAsync(() => origin.Requests.Count(r => r is ("acme", 304)) >= 2);
        Assert.Equal(1, origin.Requests.Count(r => r is ("acme", 200)));
        Assert.Null(server.Bundles.Get("globex"));

        // Rotation: the new key is published first, then bundles and tokens are signed with it.
        origin.Jwks = new JsonWebKeySet([newKey.PublicJwk, oldKey.PublicJwk, newTokenKey.PublicJwk, oldTokenKey.PublicJwk]).ToJson();
        await Task.Delay(300);
        origin.Bundles["acme"] = await BundleAsync(ServerFixture.Policies.Replace("name: llm,", "name: llm2,", StringComparison.Ordinal), "acme", newKey);
        await Eventually.TrueAsync(() => server.Bundles.Get("acme")!.Revision != first);

        var oldToken = await TestTokens.MintAsync(oldTokenKey, "acme", "payments-bot");
        var newToken = await TestTokens.MintAsync(newTokenKey, "acme", "payments-bot");
        Assert.Equal(0, (await client.CheckAsync(ServerFixture.Check(oldToken, "stripe.transfer", """{"amount": 1}"""))).Status.Code);
        Assert.Equal(0, (await client.CheckAsync(ServerFixture.Check(newToken, "stripe.transfer", """{"amount": 1}"""))).Status.Code);
    }

    [Fact]
    public async Task BundleUrl_TamperedBundleServed_RefusedAndLastGoodKept()
    {
        await using var origin = new Origin();
        using var key = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        using var stranger = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        origin.Jwks = new JsonWebKeySet([key.PublicJwk]).ToJson();
        origin.Bundles["acme"] = await BundleAsync(ServerFixture.Policies, "acme", key);
        await origin.StartAsync();
        await using var server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleUrl = $"http://127.0.0.1:{origin.Port}/bundles/{{tenant}}",
            BundlePoll = TimeSpan.FromMilliseconds(100),
            JwksUrl = new Uri($"http://127.0.0.1:{origin.Port}/.well-known/jwks.json"),
            Tenants = ["acme"],
            GrpcPort = 0,
            HttpPort = 0,
        });
        var good = server.Bundles.Get("acme")!.Revision;

        origin.Bundles["acme"] = await BundleAsync(ServerFixture.Policies.Replace("effect: allow", "effect: deny", StringComparison.Ordinal), "acme", stranger);
        await Eventually.TrueAsync(() => server.Bundles.Refusals.ContainsKey("bundle_unknown_kid"));

        Assert.Equal(good, server.Bundles.Get("acme")!.Revision);
    }
}
