using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aegis.Decision.Identity;
using Aegis.Operator.Hosting;
using Aegis.Operator.Keys;
using Aegis.Operator.Tokens;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Keys;

public class KeyRotationTests
{
    private const int Workers = 4;
    private const int TokensPerWorker = 15;

    [Fact]
    public async Task Rotation_PerPurposeUnderLoad_OldAndNewKeyTokensVerifyDuringOverlapAndOldKeyIsRefusedAfter()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var rotation = new KeyRotationOptions
        {
            RotationInterval = TimeSpan.FromHours(1),
            PrePublication = TimeSpan.FromMinutes(1),
            Retention = TimeSpan.FromMinutes(16),
            RefreshInterval = TimeSpan.FromHours(1), // the test drives every refresh itself
        };
        using var bundleRing = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Bundle, rotation, time, NullLogger<SigningKeyRing>.Instance, ct);
        using var ring = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Token, rotation, time, NullLogger<SigningKeyRing>.Instance, ct);
        var (orgKey, grant) = OrgKeys.Create("load", "acme-org", ["acme"], ["*"], ["tools:call"]);
        await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "aegis-org-keys", NamespaceProperty = "aegis-system" },
            Data = new Dictionary<string, byte[]> { ["load"] = OrgKeys.Serialize(grant) },
        }, "aegis-system", cancellationToken: ct);
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(new
        {
            apiVersion = "aegis.dev/v1alpha1", kind = "AgentPolicy", metadata = new { name = "pay", @namespace = "fin" },
            spec = new { tenant = "acme", rules = new[] { new { name = "r", match = new { tools = new[] { "x" } }, effect = "allow" } } },
        }, "aegis.dev", "v1alpha1", "fin", "agentpolicies", cancellationToken: ct);

        var app = OperatorHost.Build(new OperatorOptions
        {
            Client = client,
            Namespace = "aegis-system",
            Keys = new OperatorSigningKeys(bundleRing, ring),
            Identity = "operator-0",
            HttpPort = 0,
            Time = time,
            Tokens = new TokenServiceOptions { PermitsPerKey = 100_000, PermitsPerClient = 100_000 },
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        });
        await app.StartAsync(ct);
        try
        {
            var baseUrl = new Uri($"http://127.0.0.1:{LoopbackPorts.BoundPort(app)}");
            using var http = new HttpClient { BaseAddress = baseUrl };

            // The decision server's side: its JWKS refreshed from the operator, and its token validator.
            var jwks = new HttpJwksSource(new Uri(baseUrl, "/.well-known/jwks.json"), http, TimeSpan.FromHours(1), NullLogger<HttpJwksSource>.Instance);
            Assert.True(await jwks.RefreshAsync(ct));
            var revocations = new RevocationList(new Aegis.State.InMemoryTokenIdStore(time), time, NullLogger<RevocationList>.Instance) { MaxStaleness = Timeout.InfiniteTimeSpan };
            Assert.True(await revocations.RefreshAsync(ct));
            var validator = new TokenValidator(() => jwks.Current, TokenServiceOptions.Expectations(null), revocations, time);
            var oldKid = ring.KeyId;
            var oldBundleKid = bundleRing.KeyId;
            var oldPem = Assert.Single(ring.Keys).PrivateKeyPem;
            Assert.NotEqual(oldKid, oldBundleKid);
            await Eventually.TrueAsync(async () => await BundleKidAsync(http) == oldBundleKid, "the bundle signed by the first bundle key");

            // Due for rotation: the successor is published (and fetched by the decision server) but does not sign yet.
            time.Now += rotation.RotationInterval;
            var beforeActivation = await LoadAsync(http, orgKey, validator, () => Task.WhenAll(ring.RefreshAsync(leader: true, ct), bundleRing.RefreshAsync(leader: true, ct)));
            var newKid = Assert.Single(ring.Keys, k => k.Kid != oldKid).Kid;
            var newBundleKid = Assert.Single(bundleRing.Keys, k => k.Kid != oldBundleKid).Kid;
            Assert.True(await jwks.RefreshAsync(ct));
            Assert.True(jwks.Current.Publishes(newKid, KeyPurpose.Token));
            Assert.True(jwks.Current.Publishes(newBundleKid, KeyPurpose.Bundle));
            Assert.False(jwks.Current.Publishes(newBundleKid, KeyPurpose.Token));
            Assert.All(beforeActivation, t => Assert.Equal(oldKid, t.Kid));

            // The successor signs; tokens of both keys verify during the overlap.
            time.Now += rotation.PrePublication;
            var afterActivation = await LoadAsync(http, orgKey, validator, () => Task.WhenAll(ring.RefreshAsync(leader: true, ct), bundleRing.RefreshAsync(leader: true, ct)));
            Assert.Contains(afterActivation, t => t.Kid == newKid);
            foreach (var token in beforeActivation.Concat(afterActivation))
            {
                var check = validator.Validate(token.Token);
                Assert.True(check.Token is not null, check.Message);
            }

            // Bundles are re-signed with the new key before the old one can go.
            await Eventually.TrueAsync(async () => await BundleKidAsync(http) == newBundleKid, "the bundle re-signed by the new bundle key");

            // After the retention the old key leaves the JWKS; its tokens, and anything it might still sign, are refused.
            time.Now += rotation.Retention;
            await ring.RefreshAsync(leader: true, ct);
            await bundleRing.RefreshAsync(leader: true, ct);
            Assert.True(await jwks.RefreshAsync(ct));
            Assert.False(jwks.Current.Publishes(oldKid, KeyPurpose.Token));
            Assert.False(jwks.Current.Publishes(oldBundleKid, KeyPurpose.Bundle));
            Assert.All(beforeActivation, t => Assert.NotNull(validator.Validate(t.Token).Reason));
            var stored = await client.CoreV1.ReadNamespacedSecretAsync("aegis-signing-keys-token", "aegis-system", cancellationToken: ct);
            Assert.DoesNotContain(oldKid, System.Text.Encoding.UTF8.GetString(stored.Data[SigningKeyRing.DataKey]), StringComparison.Ordinal);

            // Someone holding the retired private key cannot mint a token that verifies.
            using var leaked = LocalEd25519Signer.FromPem(oldPem, KeyPurpose.Token);
            var forged = await TestTokens.MintAsync(leaked, "acme", "agent", now: time.GetUtcNow());
            Assert.Equal(TokenRejection.UnknownKid, validator.Validate(forged).Reason);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    // Several clients mint and validate tokens while the ring refreshes; every token must verify.
    private static async Task<List<(string Token, string Kid)>> LoadAsync(HttpClient http, string orgKey, TokenValidator validator, Func<Task> duringLoad)
    {
        var minted = new ConcurrentBag<(string Token, string Kid)>();
        var failures = new ConcurrentBag<string>();
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < TokensPerWorker; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/token") { Content = JsonContent.Create(new { agent_id = $"agent-{w}", tenant = "acme" }) };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", orgKey);
                using var response = await http.SendAsync(request);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    failures.Add($"HTTP {(int)response.StatusCode}");
                    continue;
                }

                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                var token = body.RootElement.GetProperty("access_token").GetString()!;
                var check = validator.Validate(token);
                if (check.Token is null)
                {
                    failures.Add(check.Reason + ": " + check.Message);
                    continue;
                }

                minted.Add((token, check.Token.KeyId));
            }
        })).ToList();
        await duringLoad();
        await Task.WhenAll(workers);
        Assert.Empty(failures);
        return [.. minted];
    }

    private static async Task<string?> BundleKidAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/bundles/acme");
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return null;
        }

        var keys = JsonWebKeySet.Parse(await http.GetStringAsync("/.well-known/jwks.json"));
        return new BundleVerifier(keys).Verify(await response.Content.ReadAsByteArrayAsync(), "acme").Bundle?.KeyId;
    }
}
