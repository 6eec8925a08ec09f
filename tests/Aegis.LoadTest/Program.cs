using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Aegis.Decision.Hosting;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.LoadTest;
using Aegis.Policy.Bundles;
using Aegis.Policy.Identity;
using Aegis.Policy.Loading;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Load test of the ext_authz path with h2load (Debian nghttp2-client), against a no-op gRPC server built the same
// way, in the same run: a fixed rate, then the maximum rate. Usage: Aegis.LoadTest [--duration S] [--rate N].
// With --webhook: the operator's sidecar injection webhook over HTTPS instead (make bench-webhook).
var duration = Arg("--duration", 30);
var rate = Arg("--rate", 10_000);
if (FindOnPath("h2load") is not { } h2load)
{
    Console.Error.WriteLine("h2load not found: install the Debian package nghttp2-client (make bench-load does)");
    return 2;
}

if (args.Contains("--webhook"))
{
    return await WebhookLoad.RunAsync(h2load, duration, rate);
}

using var dir = new TempDirectory();
using var signer = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
using var tokenKey = LocalEd25519Signer.Generate(KeyPurpose.Token);
using var auditKey = LocalEd25519Signer.Generate(KeyPurpose.Audit);
File.WriteAllText(Path.Combine(dir.Path, "jwks.json"), new JsonWebKeySet([signer.PublicJwk, tokenKey.PublicJwk, auditKey.PublicJwk]).ToJson());
var bundles = Directory.CreateDirectory(Path.Combine(dir.Path, "bundles")).FullName;
var load = ManifestLoader.LoadPaths([Path.Combine(RepositoryPaths.Samples, "fintech")]);
var content = BundleCompiler.Compile("acme", load.Objects);
File.WriteAllBytes(Path.Combine(bundles, "acme.tar.gz"), await BundleArchive.SignAndPackAsync(content, signer));

await using var aegis = await DecisionServer.StartAsync(new DecisionServerOptions
{
    BundleDirectory = bundles,
    JwksPath = Path.Combine(dir.Path, "jwks.json"),
    Region = "eu-west-1",
    Tenants = ["acme"],
    GrpcPort = 0,
    HttpPort = 0,
    // The audit log as in production: group commit, fsync before every answer (--audit-commit-window-ms, default 0).
    Audit = new Aegis.Decision.Audit.DecisionAuditOptions
    {
        Log = new()
        {
            Directory = Path.Combine(dir.Path, "audit"),
            Replica = "load",
            Signer = auditKey,
            CommitWindow = TimeSpan.FromMilliseconds(Arg("--audit-commit-window-ms", 0)),
        },
    },
}, logging => logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Grpc", LogLevel.None));
await using var noop = await NoopServer.StartAsync();

// A realistic CheckRequest as the sidecar sends it: an MCP tools/call of stripe.transfer (the fintech sample's
// ToolServer) with 1 KB of arguments packed as bytes, the agent's token and 10 headers.
var token = await TestTokens.MintAsync(tokenKey, "acme", "payments-bot", lifetime: AgentToken.MaxLifetime);
var memo = new string('x', 860);
var http = new AttributeContext.Types.HttpRequest
{
    Method = "POST", Host = "mcp.stripe.com", Path = "/mcp", Scheme = "http", Protocol = "HTTP/1.1",
    RawBody = ByteString.CopyFromUtf8(WireCalls.ToolsCall("transfer", $$"""{"amount": 1200, "currency": "USD", "destination": "acct_1032D82eZvKYlo2C", "metadata": {"invoice": "4411"}, "memo": "{{memo}}"}""", "17")),
};
foreach (var (k, v) in new Dictionary<string, string>
{
    ["authorization"] = "Bearer " + token, ["content-type"] = "application/json", ["mcp-protocol-version"] = "2025-11-25",
    ["user-agent"] = "agent-runtime/1.4", ["accept"] = "application/json, text/event-stream", ["mcp-session-id"] = Guid.NewGuid().ToString(),
    ["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ["x-request-id"] = Guid.NewGuid().ToString(),
    ["idempotency-key"] = Guid.NewGuid().ToString(), ["accept-encoding"] = "gzip",
})
{
    http.Headers[k] = v;
}

var check = new CheckRequest { Attributes = new AttributeContext { Request = new AttributeContext.Types.Request { Http = http } } };
using (var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{aegis.GrpcPort}"))
{
    var answer = await new Authorization.AuthorizationClient(channel).CheckAsync(check);
    if (answer.Status.Code != 0)
    {
        Console.Error.WriteLine($"the load request is not allowed ({answer.Status.Message}); fix the scenario first");
        return 1;
    }
}

// gRPC framing: one uncompressed message = 0x00, 4-byte big-endian length, the protobuf bytes.
var message = check.ToByteArray();
var frame = new byte[5 + message.Length];
BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
message.CopyTo(frame, 5);
var bodyFile = Path.Combine(dir.Path, "check.bin");
File.WriteAllBytes(bodyFile, frame);
if (args.Contains("--serve"))
{
    // For exploring h2load settings by hand: print what to call and keep the servers up.
    Console.WriteLine($"aegis 127.0.0.1:{aegis.GrpcPort}  no-op 127.0.0.1:{noop.Port}  body {bodyFile}");
    await Task.Delay(Timeout.Infinite);
}

Console.WriteLine($"CheckRequest: {message.Length} bytes ({http.Headers.Count} headers, {http.Body.Length} B body); {duration} s per run; h2load {h2load}");

var results = new List<Result>();
// Fixed rate: 10 connections, one stream each, paced by --rps (more streams per connection make h2load send in
// bursts, which measures its batching rather than the server). Maximum: one connection with 100 streams, the
// setting that gave the no-op server its highest rate here.
foreach (var (scenario, clients, streams, rps) in new[] { ("fixed", 10, 1, rate / 10), ("max", 1, 100, 0) })
{
    foreach (var (name, port) in new[] { ("no-op", noop.Port), ("aegis", aegis.GrpcPort) })
    {
        results.Add(await H2Load.RunAsync(h2load, name, scenario, $"http://127.0.0.1:{port}/envoy.service.auth.v3.Authorization/Check", clients, streams, rps, duration, bodyFile, dir.Path,
            ["content-type: application/grpc", "te: trailers"]));
        Console.WriteLine(results[^1]);
    }
}

var decisions = await new HttpClient().GetStringAsync($"http://127.0.0.1:{aegis.HttpPort}/metrics");
var allowed = Regex.Match(decisions, "aegis_decisions_total\\{effect=\"allow\",reason=\"rule_matched\"\\} (\\d+)").Groups[1].Value;
var other = Regex.Matches(decisions, "aegis_decisions_total\\{effect=\"(?!allow\")[^\"]+\",reason=\"[^\"]+\"\\} (\\d+)").Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

Console.WriteLine();
Console.WriteLine("| scenario | server | requests | failed | req/s | p50 | p99 | p99.9 |");
Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
foreach (var r in results)
{
    Console.WriteLine($"| {r.Scenario} | {r.Server} | {r.Requests:N0} | {r.Failed} | {r.PerSecond:N0} | {Ms(r.P50)} | {Ms(r.P99)} | {Ms(r.P999)} |");
}

var noopFixed = results.Single(r => r is { Scenario: "fixed", Server: "no-op" });
var aegisFixed = results.Single(r => r is { Scenario: "fixed", Server: "aegis" });
var noopMax = results.Single(r => r is { Scenario: "max", Server: "no-op" });
var aegisMax = results.Single(r => r is { Scenario: "max", Server: "aegis" });
Console.WriteLine();
var audited = Regex.Match(decisions, "aegis_audit_records_total (\\d+)").Groups[1].Value;
var commits = Regex.Match(decisions, "aegis_audit_commits_total (\\d+)").Groups[1].Value;
Console.WriteLine($"Aegis decisions: {allowed} allowed, {other} other (every request must be allowed); {audited} audit records durable in {commits} fsyncs");
Target($"p99 at {rate:N0} req/s <= 2x the no-op's ({Ms(noopFixed.P99)}) and <= 5 ms", aegisFixed.P99 <= 2 * noopFixed.P99 && aegisFixed.P99 <= 5000, Ms(aegisFixed.P99));
Target("zero failed requests", results.All(r => r.Failed == 0), string.Join(", ", results.Select(r => r.Failed)));
Target($"max throughput >= 50% of the no-op's ({noopMax.PerSecond:N0} req/s)", aegisMax.PerSecond >= noopMax.PerSecond / 2, $"{aegisMax.PerSecond:N0} req/s ({100 * aegisMax.PerSecond / noopMax.PerSecond:N0}%)");
return 0;

static void Target(string what, bool met, string measured) => Console.WriteLine($"{(met ? "MET " : "MISS")} {what}: {measured}");

static string Ms(double micros) => (micros / 1000).ToString("0.00", CultureInfo.InvariantCulture) + " ms";

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static string? FindOnPath(string name) =>
    (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

namespace Aegis.LoadTest
{
    /// <summary>One h2load run.</summary>
    internal sealed record Result(string Scenario, string Server, long Requests, long Failed, double PerSecond, double P50, double P99, double P999);

    /// <summary>The baseline: the same Kestrel h2c setup and gRPC stack, answering every Check with OK and doing nothing.</summary>
    internal sealed class NoopServer(WebApplication app, int port) : IAsyncDisposable
    {
        public int Port { get; } = port;

        public static async Task<NoopServer> StartAsync()
        {
            var port = LoopbackPorts.Free();
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Grpc", LogLevel.None);
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                k.Listen(System.Net.IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2);
            });
            builder.Services.AddGrpc();
            var app = builder.Build();
            app.MapGrpcService<NoopAuthorization>();
            await app.StartAsync();
            return new NoopServer(app, port);
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    internal sealed class NoopAuthorization : Authorization.AuthorizationBase
    {
        private static readonly CheckResponse Ok = new() { Status = new Aegis.Decision.Protos.Google.Rpc.Status { Code = 0 }, OkResponse = new OkHttpResponse() };

        public override Task<CheckResponse> Check(CheckRequest request, Grpc.Core.ServerCallContext context) => Task.FromResult(Ok);
    }
}
