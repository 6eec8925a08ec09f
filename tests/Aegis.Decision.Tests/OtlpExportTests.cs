using System.Collections.Concurrent;
using System.Text;
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

public class OtlpExportTests
{
    [Fact]
    public async Task Decisions_AreExportedAsOtlpSpansWithTheirAttributes()
    {
        // An OTLP/HTTP receiver: the exporter POSTs protobuf ExportTraceServiceRequests to /v1/traces.
        var received = new ConcurrentQueue<(string ContentType, byte[] Body)>();
        await using var collector = LoopbackPorts.CreateApp();
        collector.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            received.Enqueue((request.ContentType ?? "", body.ToArray()));
            return Results.Ok();
        });
        await collector.StartAsync();
        var port = LoopbackPorts.BoundPort(collector);

        using var dir = new TempDirectory();
        using var signer = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        using var tokenKey = LocalEd25519Signer.Generate(KeyPurpose.Token);
        File.WriteAllText(Path.Combine(dir.Path, "jwks.json"), new JsonWebKeySet([signer.PublicJwk, tokenKey.PublicJwk]).ToJson());
        Directory.CreateDirectory(Path.Combine(dir.Path, "b"));
        File.WriteAllBytes(Path.Combine(dir.Path, "b", "acme.tar.gz"),
            await BundleArchive.SignAndPackAsync(BundleCompiler.Compile("acme", PolicyFixtures.LoadValid(ServerFixture.Policies).Objects), signer));
        await using (var server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleDirectory = Path.Combine(dir.Path, "b"),
            JwksPath = Path.Combine(dir.Path, "jwks.json"),
            Region = "eu-west-1",
            GrpcPort = 0,
            HttpPort = 0,
            OtlpEndpoint = new Uri($"http://127.0.0.1:{port}/"),
            OtlpBatchDelay = TimeSpan.FromMilliseconds(100),
        }))
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.GrpcPort}");
            var client = new Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient(channel);
            var token = await TestTokens.MintAsync(tokenKey, "acme", "payments-bot");
            await client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 12}"""));
            await Eventually.TrueAsync(() => !received.IsEmpty);
        }

        var all = received.SelectMany(r => r.Body).ToArray();
        var text = Encoding.UTF8.GetString(all);
        Assert.All(received, r => Assert.Equal("application/x-protobuf", r.ContentType));
        foreach (var expected in new[] { "aegis.decision", "aegis-decision", "aegis.tenant", "acme", "aegis.agent_id", "payments-bot", "aegis.effect", "allow", "aegis.rule", "fin/payments/small", "aegis.policy_version" })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }
    }
}
