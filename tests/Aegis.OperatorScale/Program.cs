using System.Diagnostics;
using System.Globalization;
using System.Net;
using Aegis.Policy.Bundles;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;

// Operator at scale against the in-process API server: N AgentPolicy objects in T tenants are created, then the
// time from the last create until every tenant's bundle (served by the operator's /bundles/{tenant}) holds all of
// its policies; then single-object changes, each timed until its tenant's bundle is republished; the operator runs
// as its own process (aegis operator), so its resident memory is read from /proc.
// Usage: Aegis.OperatorScale [--objects 5000] [--tenants 50] [--changes 200]
var objects = Arg("--objects", 5_000);
var tenants = Arg("--tenants", 50);
var changes = Arg("--changes", 200);
var perTenant = objects / tenants;

using var dir = new TempDirectory();
await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
using var signer = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
var keyFile = Path.Combine(dir.Path, "bundle-key.pem");
await File.WriteAllTextAsync(keyFile, signer.ExportPem());
var kubeconfig = dir.Write("kubeconfig", $"""
    apiVersion: v1
    kind: Config
    clusters: [{"{"}name: test, cluster: {"{"}server: "{api.Url}"{"}"}{"}"}]
    users: [{"{"}name: test, user: {"{"}token: bench{"}"}{"}"}]
    contexts: [{"{"}name: test, context: {"{"}cluster: test, user: test{"}"}{"}"}]
    current-context: test
    """);
var port = LoopbackPorts.Free();
using var operatorProcess = Process.Start(new ProcessStartInfo("dotnet")
{
    ArgumentList = { Path.Combine(AppContext.BaseDirectory, "aegis.dll"), "operator", "--key", keyFile, "--kubeconfig", kubeconfig, "--http-port", port.ToString(CultureInfo.InvariantCulture), "--identity", "bench", "--no-webhook", "--http-tls", "off" },
    RedirectStandardOutput = true,
    RedirectStandardError = true,
}) ?? throw new InvalidOperationException("aegis operator did not start");
operatorProcess.OutputDataReceived += (_, _) => { };
operatorProcess.ErrorDataReceived += (_, e) => { if (e.Data is { } line) { Console.Error.WriteLine("operator: " + line); } };
operatorProcess.BeginOutputReadLine();
operatorProcess.BeginErrorReadLine();

using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
await Eventually.TrueAsync(async () => { try { return (await http.GetAsync("/readyz")).IsSuccessStatusCode; } catch (HttpRequestException) { return false; } }, "operator ready", TimeSpan.FromSeconds(30));
var idle = Memory(operatorProcess.Id);

using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });

// Each tenant's namespace belongs to it by its aegis.dev/tenant label: objects elsewhere are never compiled.
for (var t = 0; t < tenants; t++)
{
    await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = $"ns-{t:D2}", Labels = new Dictionary<string, string> { ["aegis.dev/tenant"] = $"tenant-{t:D2}" } } });
}

var verifier = new BundleVerifier(new JsonWebKeySet([signer.PublicJwk]));
string Tenant(int i) => $"tenant-{i % tenants:D2}";

object Policy(int i, string effect) => new
{
    apiVersion = "aegis.dev/v1alpha1",
    kind = "AgentPolicy",
    metadata = new { name = $"policy-{i:D5}", @namespace = $"ns-{i % tenants:D2}" },
    spec = new
    {
        tenant = Tenant(i),
        agents = new[] { "payments-*" },
        rules = new object[]
        {
            new { name = "transfers", match = new { tools = new[] { $"stripe.transfer.{i}" } }, when = "args.amount > 1000", effect = "approval_needed", approval = new { approvers = new[] { "slack:U1" } } },
            new { name = "reads", match = new { tools = new[] { $"crm.read.{i}.*" } }, effect },
        },
    },
};

Console.WriteLine($"creating {objects:N0} AgentPolicy objects in {tenants} tenants ({perTenant} each) ...");
var createStart = Stopwatch.GetTimestamp();
await Parallel.ForEachAsync(Enumerable.Range(0, objects), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
    await client.CustomObjects.CreateNamespacedCustomObjectAsync(Policy(i, "allow"), "aegis.dev", "v1alpha1", $"ns-{i % tenants:D2}", "agentpolicies", cancellationToken: ct));
var lastCreate = Stopwatch.GetTimestamp();
Console.WriteLine($"created in {Stopwatch.GetElapsedTime(createStart, lastCreate).TotalSeconds:F1} s");

// Complete: each tenant's served bundle verifies and holds all of its policies.
var complete = new HashSet<string>(StringComparer.Ordinal);
var etags = new Dictionary<string, string>(StringComparer.Ordinal);
while (complete.Count < tenants)
{
    foreach (var tenant in Enumerable.Range(0, tenants).Select(Tenant).Where(t => !complete.Contains(t)))
    {
        using var response = await http.GetAsync($"/bundles/{tenant}");
        if (response.StatusCode == HttpStatusCode.OK
            && verifier.Verify(await response.Content.ReadAsByteArrayAsync(), tenant).Bundle is { } bundle
            && bundle.Data.Policies.Count == perTenant)
        {
            complete.Add(tenant);
            etags[tenant] = response.Headers.ETag!.Tag;
        }
    }

    if (Stopwatch.GetElapsedTime(lastCreate) > TimeSpan.FromMinutes(5))
    {
        throw new TimeoutException($"only {complete.Count} of {tenants} bundles complete after 5 minutes");
    }

    await Task.Delay(50);
}

var initialSync = Stopwatch.GetElapsedTime(lastCreate);
Console.WriteLine($"all {tenants} bundles published {initialSync.TotalSeconds:F2} s after the last create");

// Let the status writes of the initial sync drain before timing single changes.
await Task.Delay(TimeSpan.FromSeconds(5));
// Every change is unique (the change number is in the tool glob), so each one must produce a new revision.
var latencies = new List<double>();
var random = new Random(7);
for (var n = 0; n < changes; n++)
{
    var i = random.Next(objects);
    var tenant = Tenant(i);
    var start = Stopwatch.GetTimestamp();
    await client.CustomObjects.PatchNamespacedCustomObjectAsync(
        new V1Patch($$$"""{"spec":{"rules":[{"name":"reads","match":{"tools":["crm.read.{{{i}}}.{{{n}}}.*"]},"effect":"deny"}]}}""", V1Patch.PatchType.MergePatch),
        "aegis.dev", "v1alpha1", $"ns-{i % tenants:D2}", "agentpolicies", $"policy-{i:D5}");
    while (true)
    {
        if (Stopwatch.GetElapsedTime(start) > TimeSpan.FromSeconds(60))
        {
            throw new TimeoutException($"change {n} (policy-{i:D5}) not republished after 60 s");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/bundles/{tenant}");
        request.Headers.IfNoneMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue(etags[tenant]));
        using var response = await http.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            etags[tenant] = response.Headers.ETag!.Tag;
            break;
        }

        await Task.Delay(5);
    }

    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
}

latencies.Sort();
double Percentile(double p) => latencies[(int)Math.Min(latencies.Count - 1, Math.Ceiling(p * latencies.Count) - 1)];
var (rss, peak) = Memory(operatorProcess.Id);
Console.WriteLine($"""

    objects {objects:N0}, tenants {tenants}, changes {changes}
    initial sync (last create -> all bundles complete): {initialSync.TotalSeconds:F2} s   (target < 30 s)
    change -> republished bundle: p50 {Percentile(0.50):F0} ms, p99 {Percentile(0.99):F0} ms, max {latencies[^1]:F0} ms   (target p99 < 1 s)
    operator RSS: idle {idle.Rss / 1048576.0:F0} MiB, now {rss / 1048576.0:F0} MiB, peak {peak / 1048576.0:F0} MiB   (target < 300 MiB)
    """);

operatorProcess.Kill(entireProcessTree: true);
await operatorProcess.WaitForExitAsync();
return 0;

static (long Rss, long Peak) Memory(int pid)
{
    long Field(string name) => File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith(name + ":", StringComparison.Ordinal))
        .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024).First();
    return (Field("VmRSS"), Field("VmHWM"));
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}
