using System.CommandLine;
using System.Globalization;
using System.Net;
using Aegis.Operator.Approvals;
using Aegis.Operator.Certificates;
using Aegis.Operator.Hosting;
using Aegis.Operator.Injection;
using Aegis.Operator.Sidecar;
using Aegis.Policy.Values;

namespace Aegis.Cli.Commands;

/// <summary>What <c>aegis operator</c>'s flags and environment say, checked: everything but the cluster and cloud clients.</summary>
internal sealed record OperatorSettings
{
    public FileInfo? Kubeconfig { get; init; }
    public required string Namespace { get; init; }
    public string? Identity { get; init; }
    public required IPAddress Listen { get; init; }
    public int HttpPort { get; init; }
    public bool ConfigMaps { get; init; }
    public required ObjectStoreSettings ObjectStore { get; init; }
    public string? Redis { get; init; }
    public WebhookHostOptions? Webhook { get; init; }
    public OperatorHttpsOptions? Https { get; init; }
    public DecisionTlsOptions? DecisionTls { get; init; }
    public required ApprovalSettings Approvals { get; init; }
    public TimeSpan DrainTimeout { get; init; }
}

/// <summary>Where bundles are also published: <c>none</c>, <c>s3</c> or <c>gcs</c>, with the bucket.</summary>
internal sealed record ObjectStoreSettings(string Kind, string? Bucket, string Prefix, Uri? S3Endpoint);

/// <summary>
/// The flags of <c>aegis operator</c>, bound and validated in one place (as YARP's <c>ConfigValidator</c> does): every
/// problem is reported at once, naming its flag, before anything is contacted.
/// </summary>
internal sealed class OperatorFlags
{
    private readonly Option<FileInfo?> _kubeconfig = new("--kubeconfig") { Description = "kubeconfig file (default: in-cluster config, else ~/.kube/config)" };
    private readonly Option<string> _namespace = new("--namespace") { Description = "The operator's namespace (Lease, bundle ConfigMaps)", DefaultValueFactory = _ => "aegis-system" };
    private readonly Option<string?> _identity = new("--identity") { Description = "Name in the leader Lease (default: $POD_NAME, else the host name)" };
    private readonly Option<string> _listen = new("--listen") { Description = "Address for HTTP(S) (bundles, JWKS, tokens, approvals, health)", DefaultValueFactory = _ => "127.0.0.1" };
    private readonly Option<int> _port = new("--http-port") { Description = "HTTP(S) port", DefaultValueFactory = _ => 8080 };
    private readonly Option<string> _httpTls = new("--http-tls") { Description = "TLS on --http-port: operator (a certificate from the operator's CA, published in ConfigMap aegis-operator-ca), secret (from --http-tls-secret, e.g. cert-manager's) or off (development only)", DefaultValueFactory = _ => "operator" };
    private readonly Option<string> _httpService = new("--http-service") { Description = "The Service in front of --http-port (its DNS names go into the certificate)", DefaultValueFactory = _ => "aegis-operator" };
    private readonly Option<string> _httpSecret = new("--http-tls-secret") { Description = "With --http-tls secret: the TLS Secret (tls.crt, tls.key)", DefaultValueFactory = _ => "aegis-operator-tls" };
    private readonly Option<bool> _configMaps = new("--configmaps") { Description = "Also publish each bundle as a ConfigMap" };
    private readonly Option<string> _store = new("--bundle-store") { Description = "Also publish bundles to an object store: none, s3 or gcs", DefaultValueFactory = _ => "none" };
    private readonly Option<string?> _bucket = new("--bucket") { Description = "Bucket for --bundle-store s3|gcs (versioning enabled)" };
    private readonly Option<string> _prefix = new("--bucket-prefix") { Description = "Key prefix in the bucket", DefaultValueFactory = _ => "bundles/" };
    private readonly Option<Uri?> _s3Endpoint = AuditFlags.AbsoluteUri("--s3-endpoint", "S3-compatible endpoint (default: AWS, region from AWS_REGION)");
    private readonly Option<string?> _redis = new("--redis") { Description = "The decision servers' Redis (host:port or redis://...): AgentBudget status shows live spend from it" };
    private readonly Option<bool> _noWebhook = new("--no-webhook") { Description = "Do not serve the sidecar injection webhook" };
    private readonly Option<int> _webhookPort = new("--webhook-port") { Description = "HTTPS port for /mutate-pods", DefaultValueFactory = _ => 9443 };
    private readonly Option<string> _webhookService = new("--webhook-service") { Description = "The Service in front of the webhook (its DNS names go into the certificate)", DefaultValueFactory = _ => "aegis-operator-webhook" };
    private readonly Option<string> _certificates = new("--webhook-certificates") { Description = "operator (own CA, rotated) or cert-manager (Secret and caBundle by cert-manager)", DefaultValueFactory = _ => "operator" };
    private readonly Option<string> _envoyImage = new("--envoy-image") { Description = "Image of the injected Envoy sidecar", DefaultValueFactory = _ => new SidecarOptions().EnvoyImage };
    private readonly Option<string> _envoyLogLevel = new("--envoy-log-level") { Description = "The sidecar's Envoy log level", DefaultValueFactory = _ => "warning" };
    private readonly Option<string> _initImage = new("--proxy-init-image") { Description = "Image of the aegis-init container that installs the redirect (needs sh, awk, iptables, ip6tables)", DefaultValueFactory = _ => new SidecarOptions().InitImage };
    private readonly Option<string> _decision = new("--decision-address") { Description = "The decision server's gRPC host:port, as sidecars reach it", DefaultValueFactory = _ => new SidecarOptions().DecisionAddress };
    private readonly Option<string> _decisionService = new("--decision-service") { Description = "The decision server's Service in the operator's namespace: its DNS names go into the certificate the operator issues (Secret aegis-decision-tls)", DefaultValueFactory = _ => "aegis-decision" };
    private readonly Option<int> _decisionTimeout = new("--decision-timeout-ms") { Description = "How long a sidecar waits for a decision before failing closed (1 to 3600000: what Envoy accepts)", DefaultValueFactory = _ => 500 };
    private readonly Option<int> _maxBody = new("--max-request-body-bytes") { Description = "Request bodies the sidecar buffers for the decision server (larger ones get 413); at most 1048576", DefaultValueFactory = _ => SidecarOptions.DefaultMaxRequestBodyBytes };
    private readonly Option<string?> _slackChannel = new("--slack-channel") { Description = "Slack channel for approvals whose rule names none (the bot token and signing secret come from AEGIS_SLACK_BOT_TOKEN and AEGIS_SLACK_SIGNING_SECRET)" };
    private readonly Option<string[]> _approverGroups = new("--approver-group") { Description = "Members of an approver group: NAME=USERID[,USERID...] (repeatable)" };
    private readonly Option<string> _retention = new("--approval-retention") { Description = "How long resolved ApprovalRequests are kept", DefaultValueFactory = _ => "24h" };
    private readonly Option<string> _drain = new("--drain-timeout") { Description = "On SIGTERM or Ctrl+C: how long in-flight work may take before the lease is handed back anyway", DefaultValueFactory = _ => "10s" };

    public OperatorFlags()
    {
        _store.AcceptOnlyFromAmong("none", "s3", "gcs");
        _certificates.AcceptOnlyFromAmong("operator", "cert-manager");
        _envoyLogLevel.AcceptOnlyFromAmong("trace", "debug", "info", "warning", "error", "critical", "off");
        _httpTls.AcceptOnlyFromAmong("operator", "secret", "off");
    }

    public IEnumerable<Option> Options =>
    [
        _kubeconfig, _namespace, _identity, _listen, _port, _httpTls, _httpService, _httpSecret, _configMaps, _store, _bucket, _prefix, _s3Endpoint, _redis,
        _noWebhook, _webhookPort, _webhookService, _certificates, _envoyImage, _envoyLogLevel, _initImage, _decision, _decisionService, _decisionTimeout, _maxBody,
        _slackChannel, _approverGroups, _retention, _drain,
    ];

    /// <summary>The settings, or null with every problem found in <paramref name="errors"/>.</summary>
    public OperatorSettings? Bind(ParseResult parse, Func<string, string?> environment, List<string> errors)
    {
        if (!IPAddress.TryParse(parse.GetValue(_listen), out var address))
        {
            errors.Add($"--listen: \"{parse.GetValue(_listen)}\" is not an IP address");
        }

        foreach (var (option, port) in new[] { (_port, parse.GetValue(_port)), (_webhookPort, parse.GetValue(_webhookPort)) })
        {
            if (port is < 0 or > 65535)
            {
                errors.Add($"{option.Name}: {port.ToString(CultureInfo.InvariantCulture)} is not a port (0-65535)");
            }
        }

        var sidecar = new SidecarOptions
        {
            EnvoyImage = parse.GetValue(_envoyImage)!,
            LogLevel = parse.GetValue(_envoyLogLevel)!,
            InitImage = parse.GetValue(_initImage)!,
            DecisionAddress = parse.GetValue(_decision)!,
            DecisionTimeout = TimeSpan.FromMilliseconds(parse.GetValue(_decisionTimeout)),
            MaxRequestBodyBytes = parse.GetValue(_maxBody),
        };
        DecisionTlsOptions? decisionTls = null;
        if (sidecar.Problem() is { } sidecarProblem)
        {
            errors.Add(sidecarProblem);
        }
        else
        {
            decisionTls = new DecisionTlsOptions { Namespace = parse.GetValue(_namespace)!, ServiceName = parse.GetValue(_decisionService)! };
            if (!decisionTls.DnsNames.Contains(sidecar.DecisionHost))
            {
                // Sidecars check the decision server's certificate for the host they dial: it must be one the operator issues.
                errors.Add($"--decision-address: host \"{sidecar.DecisionHost}\" is not a name of the decision certificate ({string.Join(", ", decisionTls.DnsNames)}); set --decision-service to the Service it names");
            }
        }

        var groups = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var text in parse.GetValue(_approverGroups) ?? [])
        {
            if (Approvers.TryParseGroup(text, out var groupName, out var members, out var groupError))
            {
                groups[groupName] = members;
            }
            else
            {
                errors.Add("--approver-group: " + groupError);
            }
        }

        if (!GoDuration.TryParse(parse.GetValue(_retention), out var kept, out var retentionError))
        {
            errors.Add("--approval-retention: " + retentionError);
        }

        if (!GoDuration.TryParse(parse.GetValue(_drain), out var drain, out var drainError) || drain <= TimeSpan.Zero)
        {
            errors.Add("--drain-timeout: " + (drainError ?? "must be positive"));
        }

        var approvals = new ApprovalSettings
        {
            SlackBotToken = environment("AEGIS_SLACK_BOT_TOKEN") is { Length: > 0 } bot ? bot : null,
            SlackSigningSecret = environment("AEGIS_SLACK_SIGNING_SECRET") is { Length: > 0 } secret ? secret : null,
            DefaultChannel = parse.GetValue(_slackChannel),
            Groups = groups,
            Retention = kept,
        };
        if (approvals.SlackBotToken is not null && approvals.SlackSigningSecret is null)
        {
            errors.Add("AEGIS_SLACK_SIGNING_SECRET is required with AEGIS_SLACK_BOT_TOKEN: Slack clicks could not be verified");
        }

        var store = new ObjectStoreSettings(parse.GetValue(_store)!, parse.GetValue(_bucket), parse.GetValue(_prefix)!, parse.GetValue(_s3Endpoint));
        if (store.Kind != "none" && string.IsNullOrWhiteSpace(store.Bucket))
        {
            errors.Add($"--bucket: required with --bundle-store {store.Kind}");
        }

        var ns = parse.GetValue(_namespace)!;
        var webhook = parse.GetValue(_noWebhook) ? null : new WebhookHostOptions
        {
            Port = parse.GetValue(_webhookPort),
            Sidecar = sidecar,
            Tls = new WebhookTlsOptions
            {
                Namespace = ns,
                ServiceName = parse.GetValue(_webhookService)!,
                Source = parse.GetValue(_certificates) == "cert-manager" ? CertificateSource.CertManager : CertificateSource.Operator,
            },
        };
        var tls = parse.GetValue(_httpTls);
        if (tls == "operator" && webhook?.Tls.Source != CertificateSource.Operator)
        {
            errors.Add("--http-tls operator: the certificate is issued from the operator's CA, which the webhook keeps (--webhook-certificates operator, no --no-webhook); "
                + "use --http-tls secret with a certificate someone else keeps, or --http-tls off for development");
        }

        var https = tls == "off" ? null : new OperatorHttpsOptions
        {
            Namespace = ns,
            ServiceName = parse.GetValue(_httpService)!,
            Source = tls == "secret" ? HttpsCertificateSource.Secret : HttpsCertificateSource.Operator,
            CaSecretName = webhook?.Tls.SecretName ?? new OperatorHttpsOptions { Namespace = ns }.CaSecretName,
            SecretName = parse.GetValue(_httpSecret)!,
        };

        return errors.Count > 0 ? null : new OperatorSettings
        {
            Kubeconfig = parse.GetValue(_kubeconfig),
            Namespace = ns,
            Identity = parse.GetValue(_identity) ?? environment("POD_NAME"),
            Listen = address!,
            HttpPort = parse.GetValue(_port),
            ConfigMaps = parse.GetValue(_configMaps),
            ObjectStore = store,
            Redis = parse.GetValue(_redis),
            Webhook = webhook,
            Https = https,
            DecisionTls = decisionTls,
            Approvals = approvals,
            DrainTimeout = drain,
        };
    }
}
