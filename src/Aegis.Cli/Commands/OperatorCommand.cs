using System.CommandLine;
using System.Net;
using Aegis.Decision.State;
using Aegis.Operator.Hosting;
using Aegis.Operator.Publishing;
using Amazon.S3;
using Google.Cloud.Storage.V1;
using k8s;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis operator</c>: run the operator against a cluster (in-cluster config, or a kubeconfig).</summary>
internal static class OperatorCommand
{
    public static Command Create(CliConsole console)
    {
        var kubeconfig = new Option<FileInfo?>("--kubeconfig") { Description = "kubeconfig file (default: in-cluster config, else ~/.kube/config)" };
        var ns = new Option<string>("--namespace") { Description = "The operator's namespace (Lease, bundle ConfigMaps)", DefaultValueFactory = _ => "aegis-system" };
        var key = new Option<FileInfo>("--key") { Description = "Bundle signing key (PKCS#8 PEM), e.g. mounted from a Secret", Required = true };
        var identity = new Option<string?>("--identity") { Description = "Name in the leader Lease (default: $POD_NAME, else the host name)" };
        var listen = new Option<string>("--listen") { Description = "Address for HTTP (bundles, JWKS, health)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--http-port") { Description = "HTTP port", DefaultValueFactory = _ => 8080 };
        var configMaps = new Option<bool>("--configmaps") { Description = "Also publish each bundle as a ConfigMap" };
        var store = new Option<string>("--bundle-store") { Description = "Also publish bundles to an object store: none, s3 or gcs", DefaultValueFactory = _ => "none" };
        store.AcceptOnlyFromAmong("none", "s3", "gcs");
        var bucket = new Option<string?>("--bucket") { Description = "Bucket for --bundle-store s3|gcs (versioning enabled)" };
        var prefix = new Option<string>("--bucket-prefix") { Description = "Key prefix in the bucket", DefaultValueFactory = _ => "bundles/" };
        var s3Endpoint = new Option<Uri?>("--s3-endpoint") { Description = "S3-compatible endpoint (default: AWS, region from AWS_REGION)" };
        var redis = new Option<string?>("--redis") { Description = "The decision servers' Redis (host:port or redis://...): AgentBudget status shows live spend from it" };
        var command = new Command("operator", "Run the operator: reconcile Aegis objects into signed bundles and serve them")
        {
            kubeconfig, ns, key, identity, listen, port, configMaps, store, bucket, prefix, s3Endpoint, redis,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var signer = KeyFiles.LoadSigner(parse.GetValue(key)!, null, console);
            if (signer is null || !IPAddress.TryParse(parse.GetValue(listen), out var address))
            {
                if (signer is not null)
                {
                    console.Error.WriteLine($"--listen: \"{parse.GetValue(listen)}\" is not an IP address");
                }

                return AegisCommand.BadInput;
            }

            KubernetesClientConfiguration config;
            try
            {
                config = parse.GetValue(kubeconfig) is { } file ? KubernetesClientConfiguration.BuildConfigFromConfigFile(file.FullName)
                    : KubernetesClientConfiguration.IsInCluster() ? KubernetesClientConfiguration.InClusterConfig()
                    : KubernetesClientConfiguration.BuildDefaultConfig();
            }
            catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
            {
                console.Error.WriteLine($"no usable Kubernetes configuration: {e.Message}");
                return AegisCommand.BadInput;
            }

            ObjectStorePublisher? objectStore;
            try
            {
                objectStore = await ObjectStoreFor(parse.GetValue(store)!, parse.GetValue(bucket), parse.GetValue(prefix)!, parse.GetValue(s3Endpoint), cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException e)
            {
                console.Error.WriteLine(e.Message);
                return AegisCommand.BadInput;
            }
            catch (Exception e) when (e is InvalidOperationException or Amazon.Runtime.AmazonClientException)
            {
                console.Error.WriteLine($"--bundle-store {parse.GetValue(store)}: no usable cloud credentials or region: {e.Message}");
                return AegisCommand.BadInput;
            }

            using var client = new Kubernetes(config);
            await using var redisState = parse.GetValue(redis) is { } redisUrl ? await RedisState.ConnectAsync(redisUrl).ConfigureAwait(false) : null;
            var app = OperatorHost.Build(new OperatorOptions
            {
                Client = client,
                Namespace = parse.GetValue(ns)!,
                Signer = signer,
                Identity = parse.GetValue(identity) ?? Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName,
                ListenAddress = address,
                HttpPort = parse.GetValue(port),
                PublishConfigMaps = parse.GetValue(configMaps),
                ObjectStore = objectStore,
                BudgetStore = redisState?.Budgets,
            });
            console.Out.WriteLine($"aegis operator: {config.Host}, namespace {parse.GetValue(ns)}, bundles at http://{address}:{parse.GetValue(port)}/bundles/{{tenant}}");
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C: stop gracefully, which hands the leader Lease back.
            }

            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    // Credentials come from each cloud's default chain: IRSA / pod identity on AWS, Workload Identity on GKE.
    private static async Task<ObjectStorePublisher?> ObjectStoreFor(string kind, string? bucket, string prefix, Uri? s3Endpoint, CancellationToken cancellationToken)
    {
        if (kind == "none")
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(bucket))
        {
            throw new ArgumentException($"--bucket: required with --bundle-store {kind}");
        }

        if (kind == "s3")
        {
            var config = s3Endpoint is null ? new AmazonS3Config() : new AmazonS3Config { ServiceURL = s3Endpoint.ToString(), ForcePathStyle = true };
            return new S3Publisher(new AmazonS3Client(config), bucket, prefix, TimeProvider.System);
        }

        return new GcsPublisher(await StorageClient.CreateAsync().WaitAsync(cancellationToken).ConfigureAwait(false), bucket, prefix, TimeProvider.System);
    }
}
