namespace Aegis.Operator.Sidecar;

/// <summary>How the injected Envoy sidecar is built and configured; the operator's flags fill it.</summary>
public sealed record SidecarOptions
{
    /// <summary>Name of the injected proxy container; also how a second pass recognises an injected pod.</summary>
    public const string ProxyContainerName = "aegis-proxy";

    /// <summary>Name of the init container that installs the iptables redirect in transparent mode.</summary>
    public const string InitContainerName = "aegis-init";

    /// <summary>The Envoy image's unprivileged user (uid 101 in envoyproxy/envoy); transparent mode exempts it from the redirect.</summary>
    public const long ProxyUserId = 101;

    public string EnvoyImage { get; init; } = "envoyproxy/envoy:v1.35.0";

    /// <summary>Envoy's <c>--log-level</c>: trace, debug, info, warning, error, critical or off.</summary>
    public string LogLevel { get; init; } = "warning";

    public string CpuRequest { get; init; } = "50m";
    public string MemoryRequest { get; init; } = "64Mi";
    public string CpuLimit { get; init; } = "1";
    public string MemoryLimit { get; init; } = "256Mi";

    /// <summary>Image of the transparent-mode init container; it needs <c>sh</c> and <c>iptables</c> and runs with NET_ADMIN.</summary>
    public string InitImage { get; init; } = "ghcr.io/aegis-dev/proxy-init:0.1.0";

    /// <summary>Destination TCP ports redirected to the proxy in transparent mode (plain HTTP only: TLS cannot be inspected).</summary>
    public IReadOnlyList<int> TransparentPorts { get; init; } = [80];

    /// <summary>The explicit proxy listener, on 127.0.0.1 (HTTP_PROXY and HTTPS_PROXY point here).</summary>
    public int ProxyPort { get; init; } = 15001;

    /// <summary>Envoy's admin interface, on 127.0.0.1 only.</summary>
    public int AdminPort { get; init; } = 15000;

    /// <summary>The decision server's gRPC address (ext_authz and ext_proc), host:port; a headless Service spreads load per request.</summary>
    public string DecisionAddress { get; init; } = "aegis-decision.aegis-system.svc:9191";

    /// <summary>How long Envoy waits for a decision (ext_authz) or a processing reply (ext_proc) before failing closed.</summary>
    public TimeSpan DecisionTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Request bodies up to this size reach the decision server; larger requests are refused with 413.</summary>
    public int MaxRequestBodyBytes { get; init; } = 64 * 1024;

    /// <summary>Names that bypass the proxy (NO_PROXY): loopback and in-cluster DNS names.</summary>
    public IReadOnlyList<string> NoProxy { get; init; } = ["localhost", "127.0.0.1", "::1", ".svc", ".svc.cluster.local", ".cluster.local"];

    /// <summary>The proxy URL application containers get in HTTP_PROXY and HTTPS_PROXY.</summary>
    public string ProxyUrl => $"http://127.0.0.1:{ProxyPort}";
}
