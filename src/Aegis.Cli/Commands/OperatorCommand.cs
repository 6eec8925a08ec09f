using System.CommandLine;
using System.Net;
using Aegis.State;
using Aegis.Operator.Certificates;
using Aegis.Operator.Hosting;
using Aegis.Operator.Injection;
using Aegis.Operator.Keys;
using Aegis.Operator.Publishing;
using Aegis.Operator.Sidecar;
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
        var signing = new OperatorSigning();
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
        var noWebhook = new Option<bool>("--no-webhook") { Description = "Do not serve the sidecar injection webhook" };
        var webhookPort = new Option<int>("--webhook-port") { Description = "HTTPS port for /mutate-pods", DefaultValueFactory = _ => 9443 };
        var webhookService = new Option<string>("--webhook-service") { Description = "The Service in front of the webhook (its DNS names go into the certificate)", DefaultValueFactory = _ => "aegis-operator-webhook" };
        var certificates = new Option<string>("--webhook-certificates") { Description = "operator (own CA, rotated) or cert-manager (Secret and caBundle by cert-manager)", DefaultValueFactory = _ => "operator" };
        certificates.AcceptOnlyFromAmong("operator", "cert-manager");
        var envoyImage = new Option<string>("--envoy-image") { Description = "Image of the injected Envoy sidecar", DefaultValueFactory = _ => new SidecarOptions().EnvoyImage };
        var envoyLogLevel = new Option<string>("--envoy-log-level") { Description = "The sidecar's Envoy log level", DefaultValueFactory = _ => "warning" };
        envoyLogLevel.AcceptOnlyFromAmong("trace", "debug", "info", "warning", "error", "critical", "off");
        var initImage = new Option<string>("--proxy-init-image") { Description = "Image of the aegis-init container that installs the redirect (needs sh, awk, iptables, ip6tables)", DefaultValueFactory = _ => new SidecarOptions().InitImage };
        var decision = new Option<string>("--decision-address") { Description = "The decision server's gRPC host:port, as sidecars reach it", DefaultValueFactory = _ => new SidecarOptions().DecisionAddress };
        var decisionService = new Option<string>("--decision-service") { Description = "The decision server's Service in the operator's namespace: its DNS names go into the certificate the operator issues (Secret aegis-decision-tls)", DefaultValueFactory = _ => "aegis-decision" };
        var decisionTimeout = new Option<int>("--decision-timeout-ms") { Description = "How long a sidecar waits for a decision before failing closed (1 to 3600000: what Envoy accepts)", DefaultValueFactory = _ => 500 };
        var maxBody = new Option<int>("--max-request-body-bytes") { Description = "Request bodies the sidecar buffers for the decision server (larger ones get 413); at most 1048576", DefaultValueFactory = _ => SidecarOptions.DefaultMaxRequestBodyBytes };
        var slackChannel = new Option<string?>("--slack-channel") { Description = "Slack channel for approvals whose rule names none (the bot token and signing secret come from AEGIS_SLACK_BOT_TOKEN and AEGIS_SLACK_SIGNING_SECRET)" };
        var approverGroups = new Option<string[]>("--approver-group") { Description = "Members of an approver group: NAME=USERID[,USERID...] (repeatable)" };
        var retention = new Option<string>("--approval-retention") { Description = "How long resolved ApprovalRequests are kept", DefaultValueFactory = _ => "24h" };
        var command = new Command("operator", "Run the operator: reconcile Aegis objects into signed bundles, serve them, and inject sidecars")
        {
            kubeconfig, ns, identity, listen, port, configMaps, store, bucket, prefix, s3Endpoint, redis, noWebhook, webhookPort, webhookService, certificates, envoyImage, envoyLogLevel, initImage, decision, decisionService, decisionTimeout, maxBody, slackChannel, approverGroups, retention,
        };
        foreach (var option in signing.Options)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!IPAddress.TryParse(parse.GetValue(listen), out var address))
            {
                console.Error.WriteLine($"--listen: \"{parse.GetValue(listen)}\" is not an IP address");
                return AegisCommand.BadInput;
            }

            if (signing.Check(parse) is { } signingProblem)
            {
                console.Error.WriteLine(signingProblem);
                return AegisCommand.BadInput;
            }

            var sidecar = new SidecarOptions
            {
                EnvoyImage = parse.GetValue(envoyImage)!,
                LogLevel = parse.GetValue(envoyLogLevel)!,
                InitImage = parse.GetValue(initImage)!,
                DecisionAddress = parse.GetValue(decision)!,
                DecisionTimeout = TimeSpan.FromMilliseconds(parse.GetValue(decisionTimeout)),
                MaxRequestBodyBytes = parse.GetValue(maxBody),
            };
            if (sidecar.Problem() is { } sidecarProblem)
            {
                console.Error.WriteLine(sidecarProblem);
                return AegisCommand.BadInput;
            }

            var decisionTls = new DecisionTlsOptions { Namespace = parse.GetValue(ns)!, ServiceName = parse.GetValue(decisionService)! };
            if (!decisionTls.DnsNames.Contains(sidecar.DecisionHost))
            {
                // Sidecars check the decision server's certificate for the host they dial: it must be one the operator issues.
                console.Error.WriteLine($"--decision-address: host \"{sidecar.DecisionHost}\" is not a name of the decision certificate ({string.Join(", ", decisionTls.DnsNames)}); set --decision-service to the Service it names");
                return AegisCommand.BadInput;
            }

            var groups = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            foreach (var text in parse.GetValue(approverGroups) ?? [])
            {
                if (!Aegis.Operator.Approvals.Approvers.TryParseGroup(text, out var groupName, out var members, out var groupError))
                {
                    console.Error.WriteLine("--approver-group: " + groupError);
                    return AegisCommand.BadInput;
                }

                groups[groupName] = members;
            }

            if (!Aegis.Policy.Values.GoDuration.TryParse(parse.GetValue(retention), out var kept, out var retentionError))
            {
                console.Error.WriteLine("--approval-retention: " + retentionError);
                return AegisCommand.BadInput;
            }

            var approvals = new Aegis.Operator.Approvals.ApprovalSettings
            {
                SlackBotToken = Environment.GetEnvironmentVariable("AEGIS_SLACK_BOT_TOKEN") is { Length: > 0 } bot ? bot : null,
                SlackSigningSecret = Environment.GetEnvironmentVariable("AEGIS_SLACK_SIGNING_SECRET") is { Length: > 0 } secret ? secret : null,
                DefaultChannel = parse.GetValue(slackChannel),
                Groups = groups,
                Retention = kept,
            };
            if (approvals.SlackBotToken is not null && approvals.SlackSigningSecret is null)
            {
                console.Error.WriteLine("AEGIS_SLACK_SIGNING_SECRET is required with AEGIS_SLACK_BOT_TOKEN: Slack clicks could not be verified");
                return AegisCommand.BadInput;
            }

            if (KubeConfigs.TryResolve(parse.GetValue(kubeconfig), console) is not { } config)
            {
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
            using var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(l => Microsoft.Extensions.Logging.ConsoleLoggerExtensions.AddSimpleConsole(l));
            OperatorSigningKeys? created;
            try
            {
                created = await signing.CreateAsync(parse, client, parse.GetValue(ns)!, loggers, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KmsSigningException or ArgumentException or InvalidOperationException or FormatException or IOException or UnauthorizedAccessException
                or Amazon.Runtime.AmazonClientException or k8s.Autorest.HttpOperationException or HttpRequestException)
            {
                console.Error.WriteLine($"--signer {parse.GetValue(signing.SignerOption)}: no usable signing keys: {e.Message}");
                return AegisCommand.BadInput;
            }

            using var operatorKeys = created;
            await using var redisState = parse.GetValue(redis) is { } redisUrl ? await RedisState.ConnectAsync(redisUrl).ConfigureAwait(false) : null;
            var app = OperatorHost.Build(new OperatorOptions
            {
                Client = client,
                Namespace = parse.GetValue(ns)!,
                Keys = operatorKeys,
                Tokens = signing.Tokens(parse),
                Identity = parse.GetValue(identity) ?? Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName,
                ListenAddress = address,
                HttpPort = parse.GetValue(port),
                PublishConfigMaps = parse.GetValue(configMaps),
                ObjectStore = objectStore,
                BudgetStore = redisState?.Budgets,
                Revocations = redisState?.TokenIds,
                Approvals = approvals,
                DecisionTls = decisionTls,
                Webhook = parse.GetValue(noWebhook) ? null : new WebhookHostOptions
                {
                    Port = parse.GetValue(webhookPort),
                    Sidecar = sidecar,
                    Tls = new WebhookTlsOptions
                    {
                        Namespace = parse.GetValue(ns)!,
                        ServiceName = parse.GetValue(webhookService)!,
                        Source = parse.GetValue(certificates) == "cert-manager" ? CertificateSource.CertManager : CertificateSource.Operator,
                    },
                },
            });
            console.Out.WriteLine($"aegis operator: {config.Host}, namespace {parse.GetValue(ns)}, bundles at http://{address}:{parse.GetValue(port)}/bundles/{{tenant}}");
            console.Out.WriteLine($"signing keys: bundles {Describe(operatorKeys.Bundles)}, tokens {Describe(operatorKeys.Tokens)}");
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

    private static string Describe(Aegis.Policy.Signing.ISigner signer) => signer switch
    {
        KmsEd25519Signer kms => kms.Description,
        SigningKeyRing => "the rotated local key ring",
        _ => "a fixed key file",
    } + $" (kid {signer.KeyId})";

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
