using System.Globalization;
using Aegis.Operator.Hosting;
using Aegis.Operator.Injection;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Admission;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aegis.LoadTest;

/// <summary>
/// h2load against the operator's <c>/mutate-pods</c> over HTTPS (h2): the whole operator host against the in-process
/// API server, the realistic agent pod of the webhook tests, a fixed rate and then the maximum.
/// </summary>
internal static class WebhookLoad
{
    public static async Task<int> RunAsync(string h2load, int duration, int rate)
    {
        using var dir = new TempDirectory();
        await using var api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = "agents", Labels = new Dictionary<string, string> { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" } },
        });
        using var keys = Aegis.Operator.Keys.OperatorSigningKeys.Generate();
        var app = OperatorHost.Build(new OperatorOptions
        {
            Client = client, Namespace = "aegis-system", Keys = keys, Identity = "load", HttpPort = 0,
            Webhook = new WebhookHostOptions { Port = 0, Tls = new Aegis.Operator.Certificates.WebhookTlsOptions { Namespace = "aegis-system" } },
            DecisionTls = new Aegis.Operator.Certificates.DecisionTlsOptions { Namespace = "aegis-system" },
        }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        try
        {
            using var http = new HttpClient();
            await Eventually.TrueAsync(async () => (await http.GetAsync($"http://127.0.0.1:{LoopbackPorts.BoundPort(app, "http")}/readyz")).IsSuccessStatusCode, "the operator ready");
            var body = Path.Combine(dir.Path, "review.json");
            var review = AdmissionFixtures.Review(AdmissionFixtures.RealisticPod()).ToJsonString();
            File.WriteAllText(body, review);
            var url = $"https://127.0.0.1:{LoopbackPorts.BoundPort(app, "https")}{PodInjectionWebhook.Path}";
            Console.WriteLine($"AdmissionReview: {review.Length:N0} bytes (realistic agent pod, 2 containers, 1 init container); {duration} s per run; h2load {h2load}");

            var results = new List<Result>();
            // Fixed rate: one connection, one stream, paced by --rps, as the API server calls a webhook. Maximum: 10 streams.
            foreach (var (scenario, streams, rps) in new[] { ("fixed", 1, rate), ("max", 10, 0) })
            {
                results.Add(await H2Load.RunAsync(h2load, "webhook", scenario, url, 1, streams, rps, duration, body, dir.Path, ["content-type: application/json"]));
                Console.WriteLine(results[^1]);
            }

            var injected = app.Services.GetRequiredService<PodInjectionWebhook>().Injected;
            Console.WriteLine();
            Console.WriteLine("| scenario | requests | failed | req/s | p50 | p99 | p99.9 |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var r in results)
            {
                Console.WriteLine($"| {r.Scenario} | {r.Requests:N0} | {r.Failed} | {r.PerSecond:N0} | {Ms(r.P50)} | {Ms(r.P99)} | {Ms(r.P999)} |");
            }

            var fixedRate = results[0];
            Console.WriteLine();
            Console.WriteLine($"Pods injected: {injected:N0} (every answered review must carry a patch)");
            Console.WriteLine($"{(fixedRate.P99 < 5000 && fixedRate.Failed == 0 ? "MET " : "MISS")} p99 < 5 ms at {rate} reviews/s with no failures: {Ms(fixedRate.P99)}, {fixedRate.Failed} failed");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static string Ms(double micros) => (micros / 1000).ToString("0.00", CultureInfo.InvariantCulture) + " ms";
}
