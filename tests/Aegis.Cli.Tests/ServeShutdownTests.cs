using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>
/// <c>aegis serve</c> as a real process receiving real signals: readiness turns false at once, a call in flight
/// finishes, a call arriving afterwards is refused, and the process exits 0; Ctrl+C twice exits at once.
/// </summary>
public class ServeShutdownTests
{
    private static readonly TimeSpan ExitWithin = TimeSpan.FromSeconds(20);

    public static TheoryData<string, string> ModesAndSignals => new()
    {
        { "manifests", "TERM" },
        { "manifests", "INT" },
        { "bundle-url", "TERM" },
        { "bundle-url", "INT" },
    };

    [Theory]
    [MemberData(nameof(ModesAndSignals))]
    public async Task Serve_Signal_TurnsNotReadyFinishesTheCallInFlightRefusesNewOnesAndExitsZero(string mode, string signal)
    {
        await using var serve = await ServedProcess.StartAsync(mode);
        using var slow = serve.HeldDecision();
        await slow.AdmittedAsync();

        await serve.Process.SignalAsync(signal);

        await Eventually.TrueAsync(async () => await serve.ReadyzAsync() == (HttpStatusCode.ServiceUnavailable, "not ready: shutting down\n"), "/readyz false after the signal");
        using (var late = await serve.Http.PostAsync("/v1/decide", Json("""{"tool":"x"}""")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, late.StatusCode);
            Assert.Contains("\"reason\":\"shutting_down\"", await late.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        slow.Release();
        using var answered = await slow.Response;
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Equal("allow", JsonDocument.Parse(await answered.Content.ReadAsStringAsync()).RootElement.GetProperty("effect").GetString());
        Assert.Equal(0, await serve.Process.ExitCodeAsync(ExitWithin));
        Assert.Contains($"SIG{signal}: shutting down", serve.Process.Output, StringComparison.Ordinal);
        Assert.Contains("drained; stopped", serve.Process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", serve.Process.Output, StringComparison.Ordinal);

        // The drained call is in the audit log, whose segment the shutdown closed with a signed checkpoint.
        var verify = await CliRun.RunAsync("audit", "verify", serve.AuditDir, "--jwks", serve.Jwks);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("; closed", verify.Out, StringComparison.Ordinal);
        var decisionId = JsonDocument.Parse(await answered.Content.ReadAsStringAsync()).RootElement.GetProperty("decisionId").GetString()!;
        Assert.Contains(Directory.GetFiles(serve.AuditDir, "*.jsonl"), f => File.ReadAllText(f).Contains(decisionId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_CallStillOpenAtTheDeadline_IsCutAndTheProcessExitsZero()
    {
        await using var serve = await ServedProcess.StartAsync("manifests", "--drain-timeout", "1s");
        using var slow = serve.HeldDecision();
        await slow.AdmittedAsync();

        await serve.Process.SignalAsync("TERM");

        Assert.Equal(0, await serve.Process.ExitCodeAsync(ExitWithin));
        Assert.Contains("drain deadline reached: cut the calls still open; stopped", serve.Process.Output, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<HttpRequestException>(async () => (await slow.Response).EnsureSuccessStatusCode());
    }

    [Fact]
    public async Task Serve_SecondInterruptDuringTheDrain_ExitsAtOnceNonZeroAndSaysSo()
    {
        await using var serve = await ServedProcess.StartAsync("manifests", "--drain-timeout", "5m");
        using var slow = serve.HeldDecision();
        await slow.AdmittedAsync();

        await serve.Process.SignalAsync("INT");
        await serve.Process.WaitForAsync("SIGINT: shutting down", "the drain announced");
        await serve.Process.SignalAsync("INT");

        Assert.Equal(130, await serve.Process.ExitCodeAsync(ExitWithin));
        Assert.Contains("interrupted again: exiting at once", serve.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_RepeatedSigterm_KeepsDrainingUntilTheCallFinishes()
    {
        await using var serve = await ServedProcess.StartAsync("manifests");
        using var slow = serve.HeldDecision();
        await slow.AdmittedAsync();

        await serve.Process.SignalAsync("TERM");
        await serve.Process.WaitForAsync("SIGTERM: shutting down", "the drain announced");
        await serve.Process.SignalAsync("TERM");
        slow.Release();

        Assert.Equal(HttpStatusCode.OK, (await slow.Response).StatusCode);
        Assert.Equal(0, await serve.Process.ExitCodeAsync(ExitWithin));
    }

    [Fact]
    public async Task DotnetRun_CtrlCToTheForegroundProcessGroup_StopsTheServerWithOneInterrupt()
    {
        // What `make run` runs, in a process group of its own as a terminal's foreground job; Ctrl+C signals the whole
        // group, so dotnet run and the server both receive it once.
        using var dir = new TempDirectory();
        dir.Write("manifests/p.yaml", ServedPolicy.Yaml);
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        await using var run = CliProcess.StartCommand(
            ["dotnet", "run", "--no-build", "-c", configuration, "--project", "src/Aegis.Cli", "--no-launch-profile", "--",
             "serve", "--manifests", Path.Combine(dir.Path, "manifests"), "--state-dir", Path.Combine(dir.Path, "state"), "--grpc-port", "0", "--http-port", "0"],
            newProcessGroup: true);
        await run.WaitForAsync(@"JSON API\s+http://127\.0\.0\.1:(\d+)/v1/decide", "the serve banner");

        await run.SignalAsync("INT", group: true);

        Assert.Equal(0, await run.ExitCodeAsync(ExitWithin));
        Assert.Contains("SIGINT: shutting down", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("interrupted again", run.Output, StringComparison.Ordinal);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>A served process, in either mode, with an HTTP client that carries an agent token.</summary>
    private sealed class ServedProcess : IAsyncDisposable
    {
        private readonly TempDirectory dir;
        private readonly System.Net.HttpListener? operatorStandIn;

        /// <summary>This replica's audit folder.</summary>
        public string AuditDir { get; }

        /// <summary>The JWKS holding the audit key.</summary>
        public string Jwks { get; }

        private ServedProcess(TempDirectory dir, CliProcess process, HttpClient http, System.Net.HttpListener? operatorStandIn, string auditDir, string jwks)
        {
            AuditDir = auditDir;
            Jwks = jwks;
            this.dir = dir;
            Process = process;
            Http = http;
            this.operatorStandIn = operatorStandIn;
        }

        public CliProcess Process { get; }

        public HttpClient Http { get; }

        public static async Task<ServedProcess> StartAsync(string mode, params string[] extra)
        {
            var dir = new TempDirectory();
            dir.Write("manifests/p.yaml", ServedPolicy.Yaml);
            var keys = Path.Combine(dir.Path, "keys");
            string[] tokenArgs;
            CliProcess process;
            System.Net.HttpListener? standIn = null;
            string bannerPattern;
            if (mode == "manifests")
            {
                var state = Path.Combine(dir.Path, "state");
                process = CliProcess.Start(["serve", "--manifests", Path.Combine(dir.Path, "manifests"), "--state-dir", state, "--grpc-port", "0", "--http-port", "0", .. extra]);
                tokenArgs = ["--key", Path.Combine(state, "keys", "token-key.pem")];
                bannerPattern = @"JSON API\s+http://127\.0\.0\.1:(\d+)/v1/decide";
            }
            else
            {
                await CliRun.RunAsync("keys", "generate", "--out", keys);
                tokenArgs = ["--key", Path.Combine(keys, "token-key.pem"), "--issuer", "aegis-operator"];
                var compile = await CliRun.RunAsync("compile", Path.Combine(dir.Path, "manifests"), "--key", Path.Combine(keys, "bundle-key.pem"), "--out", Path.Combine(dir.Path, "bundles"));
                Assert.True(compile.ExitCode == 0, compile.ToString());
                (standIn, var origin) = ServedPolicy.OperatorStandIn(new Dictionary<string, byte[]>(StringComparer.Ordinal)
                {
                    ["/bundles/acme"] = File.ReadAllBytes(Path.Combine(dir.Path, "bundles", "acme.tar.gz")),
                    ["/.well-known/jwks.json"] = File.ReadAllBytes(Path.Combine(keys, "jwks.json")),
                });
                process = CliProcess.Start(["serve", "--bundle-url", origin + "/bundles/{tenant}", "--jwks-url", origin + "/.well-known/jwks.json", "--tenant", "acme", "--grpc-port", "0", "--http-port", "0",
                    "--audit-dir", Path.Combine(dir.Path, "audit"), "--audit-key", Path.Combine(keys, "audit-key.pem"), .. extra]);
                bannerPattern = @"HTTP :(\d+), bundles from";
            }

            var banner = await process.WaitForAsync(bannerPattern, "the serve banner");
            var http = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromMinutes(1) }) { BaseAddress = new Uri("http://127.0.0.1:" + banner.Groups[1].Value) };
            var token = await CliRun.RunAsync(["token", "--agent", "bot", "--tenant", "acme", .. tokenArgs]);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Out.Trim());
            var served = mode == "manifests"
                ? new ServedProcess(dir, process, http, standIn, Path.Combine(dir.Path, "state", "audit"), Path.Combine(dir.Path, "state", "keys", "jwks.json"))
                : new ServedProcess(dir, process, http, standIn, Path.Combine(dir.Path, "audit"), Path.Combine(keys, "jwks.json"));
            await Eventually.TrueAsync(async () => (await served.ReadyzAsync()).Status == HttpStatusCode.OK, "/readyz true before the signal", TimeSpan.FromSeconds(30));
            return served;
        }

        /// <summary>A /v1/decide whose body is held back after its first bytes, once the server has admitted it.</summary>
        public HeldCall HeldDecision()
        {
            var body = new HeldBody("""{"tool":""", "\"x\"}");
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = body };

            // With Expect: 100-continue the body is sent only once the endpoint reads it, so "sending" proves "admitted".
            request.Headers.ExpectContinue = true;
            return new HeldCall(body, Http.SendAsync(request), request);
        }

        public async Task<(HttpStatusCode Status, string Body)> ReadyzAsync()
        {
            try
            {
                using var fresh = new HttpClient { BaseAddress = Http.BaseAddress };
                using var response = await fresh.GetAsync("/readyz");
                return (response.StatusCode, await response.Content.ReadAsStringAsync());
            }
            catch (HttpRequestException e)
            {
                return (0, e.Message);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Process.DisposeAsync();
            Http.Dispose();
            operatorStandIn?.Close();
            dir.Dispose();
        }
    }

    /// <summary>A call in flight: admitted by the server, its body held until <see cref="Release"/>.</summary>
    private sealed class HeldCall(HeldBody body, Task<HttpResponseMessage> response, HttpRequestMessage request) : IDisposable
    {
        public Task<HttpResponseMessage> Response => response;

        public Task AdmittedAsync() => body.Sending.Task.WaitAsync(TimeSpan.FromSeconds(30));

        public void Release() => body.Released.TrySetResult();

        public void Dispose()
        {
            body.Released.TrySetResult();
            request.Dispose();
        }
    }

    private sealed class HeldBody(string head, string tail) : HttpContent
    {
        public TaskCompletionSource Sending { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(head));
            await stream.FlushAsync();
            Sending.TrySetResult();
            await Released.Task;
            await stream.WriteAsync(Encoding.UTF8.GetBytes(tail));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
