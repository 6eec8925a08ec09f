using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>
/// The durability promise, end to end: the real CLI serving as a process, under load, killed with SIGKILL, started
/// again; then <c>aegis audit verify</c> passes and every decision a client got an answer for is in the log.
/// </summary>
public class AuditCrashTests
{
    private const string Policy = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: dev }
        spec:
          tenant: acme
          rules:
            - { name: allowed, match: { tools: ["x"] }, effect: allow }
            - { name: refused, match: { tools: ["y"] }, effect: deny }
        """;

    private const int Rounds = 3;
    private const int PerRound = 2_000;

    [Fact]
    public async Task Serve_KilledUnderLoad_RestartsWithAVerifiableLogHoldingEveryAnsweredDecision()
    {
        using var dir = new TempDirectory();
        var manifests = Path.GetDirectoryName(dir.Write("manifests/p.yaml", Policy))!;
        var state = Path.Combine(dir.Path, "state");
        string[] serve = ["serve", "--manifests", manifests, "--state-dir", state, "--grpc-port", "0", "--http-port", "0", "--replica-id", "crash-test"];

        // Three rounds of load, each ended by SIGKILL mid-load: answers in flight are lost, and so may be the file's tail.
        var answered = new ConcurrentBag<string>();
        var attempted = 0;
        for (var round = 0; round < Rounds; round++)
        {
            using var server = CliProcess.Start(serve);
            using var http = await ClientAsync(server, state);
            using var stop = new CancellationTokenSource();
            var before = answered.Count;
            var workers = Enumerable.Range(0, 16).Select(w => Task.Run(() => LoadAsync(http, w, answered, stop.Token))).ToList();
            await Eventually.TrueAsync(() => answered.Count - before >= PerRound || workers.All(w => w.IsCompleted), $"{PerRound} answered decisions in round {round}", TimeSpan.FromSeconds(60));
            Assert.True(answered.Count - before >= PerRound, $"the load stopped early: {string.Join("; ", workers.Where(w => w.IsFaulted).Select(w => w.Exception!.GetBaseException().Message).Distinct())}");
            await server.KillAsync();
            await stop.CancelAsync();
            attempted += (await Task.WhenAll(workers)).Sum();
        }

        var afterRestart = new ConcurrentBag<string>();
        using (var last = CliProcess.Start(serve))
        {
            using var http = await ClientAsync(last, state);
            for (var i = 0; i < 20; i++)
            {
                await DecideAsync(http, i % 2 == 0 ? "x" : "y", afterRestart, CancellationToken.None);
            }

            var verify = await CliRun.RunAsync("audit", "verify", Path.Combine(state, "audit"), "--jwks", Path.Combine(state, "keys", "jwks.json"));
            Assert.True(verify.ExitCode == 0, verify.ToString());
            Assert.Contains("replica crash-test: segments 1-1", verify.Out, StringComparison.Ordinal);

            var logged = Directory.GetFiles(Path.Combine(state, "audit"), "*.jsonl")
                .SelectMany(f => ReadShared(f).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                .Select(l => JsonDocument.Parse(l).RootElement)
                .Where(l => l.GetProperty("type").GetString() == "decision")
                .Select(l => l.GetProperty("decisionId").GetString()!)
                .ToHashSet(StringComparer.Ordinal);
            var repairs = Directory.GetFiles(Path.Combine(state, "audit"), "*.jsonl").Sum(f => ReadShared(f).Split('\n').Count(l => l.Contains("\"type\":\"repair\"", StringComparison.Ordinal)));
            var missing = answered.Concat(afterRestart).Where(id => !logged.Contains(id)).ToList();
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"kill -9 under load, {Rounds} rounds: {attempted} requests sent, {answered.Count} answered, {logged.Count - afterRestart.Count} decisions logged, "
                + $"{repairs} torn tail(s) repaired; {afterRestart.Count} answered and logged after the last restart; {missing.Count} answered but missing; {verify.Out.Trim()}");
            Assert.Empty(missing);
            Assert.All(afterRestart, id => Assert.Contains(id, logged));
        }
    }

    private static async Task<HttpClient> ClientAsync(CliProcess server, string state)
    {
        var port = (await server.WaitForAsync(@"JSON API\s+http://127\.0\.0\.1:(\d+)/v1/decide", "the serve banner")).Groups[1].Value;
        var token = await CliRun.RunAsync("token", "--agent", "bot", "--tenant", "acme", "--key", Path.Combine(state, "keys", "token-key.pem"));
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Out.Trim());
        return http;
    }

    /// <summary>Decides until stopped or the server is gone; returns how many requests it sent.</summary>
    private static async Task<int> LoadAsync(HttpClient http, int worker, ConcurrentBag<string> answered, CancellationToken stop)
    {
        var sent = 0;
        var watch = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested && watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            sent++;
            try
            {
                await DecideAsync(http, (worker + sent) % 3 == 0 ? "y" : "x", answered, stop);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                // The server was killed: this answer never arrived, so the client cannot hold it against the log.
                break;
            }
        }

        return sent;
    }

    private static async Task DecideAsync(HttpClient http, string tool, ConcurrentBag<string> answered, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync("/v1/decide", new StringContent($$$"""{"tool":"{{{tool}}}","args":{"n":1}}""", Encoding.UTF8, "application/json"), cancellationToken);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var effect = doc.RootElement.GetProperty("effect").GetString();
        Assert.Equal(tool == "x" ? "allow" : "deny", effect);
        answered.Add(doc.RootElement.GetProperty("decisionId").GetString()!);
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
