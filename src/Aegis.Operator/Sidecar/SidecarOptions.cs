using System.Globalization;

namespace Aegis.Operator.Sidecar;

/// <summary>How the injected Envoy sidecar is built and configured; the operator's flags fill it.</summary>
public sealed record SidecarOptions
{
    /// <summary>Name of the injected proxy container; a pod that brings its own container of this name is refused.</summary>
    public const string ProxyContainerName = "aegis-proxy";

    /// <summary>Name of the init container that installs the iptables redirect; a pod that brings its own is refused.</summary>
    public const string InitContainerName = "aegis-init";

    /// <summary>The emptyDir only the proxy container mounts: it holds Envoy's admin socket, out of the agent's reach.</summary>
    public const string RuntimeVolumeName = "aegis-proxy-run";

    /// <summary>Where <see cref="RuntimeVolumeName"/> is mounted in the proxy container.</summary>
    public const string RuntimeDirectory = "/var/run/aegis";

    /// <summary>Envoy's admin interface: a Unix socket in <see cref="RuntimeDirectory"/>, mode 0600, so no other container can reach it.</summary>
    public const string AdminSocketPath = RuntimeDirectory + "/admin.sock";

    /// <summary>The Envoy image's unprivileged user (uid 101 in envoyproxy/envoy); its traffic, and only its, is exempt from the redirect.</summary>
    public const long ProxyUserId = 101;

    /// <summary>What Envoy accepts for ext_proc's <c>message_timeout</c> (ext_proc.proto: lte 3600s); the decision timeout feeds it.</summary>
    public static readonly TimeSpan MaxDecisionTimeout = TimeSpan.FromSeconds(3600);

    /// <summary>The decision server's request body cap (DecisionApi.MaxBodyBytes); Envoy refuses larger bodies with 413.</summary>
    public const int DefaultMaxRequestBodyBytes = 1024 * 1024;

    public string EnvoyImage { get; init; } = "envoyproxy/envoy:v1.35.0";

    /// <summary>Envoy's <c>--log-level</c>: trace, debug, info, warning, error, critical or off.</summary>
    public string LogLevel { get; init; } = "warning";

    public string CpuRequest { get; init; } = "50m";
    public string MemoryRequest { get; init; } = "64Mi";
    public string CpuLimit { get; init; } = "1";
    public string MemoryLimit { get; init; } = "256Mi";

    /// <summary>Image of the init container; it needs <c>sh</c>, <c>awk</c>, <c>iptables</c> and <c>ip6tables</c> and runs with NET_ADMIN.</summary>
    public string InitImage { get; init; } = "ghcr.io/aegis-dev/proxy-init:0.1.0";

    /// <summary>The explicit proxy listener, on 127.0.0.1 (HTTP_PROXY and HTTPS_PROXY point here).</summary>
    public int ProxyPort { get; init; } = 15001;

    /// <summary>Where iptables redirects every other outbound TCP connection of the pod (127.0.0.1, original destination restored by Envoy).</summary>
    public int TransparentPort { get; init; } = 15002;

    /// <summary>The decision server's gRPC address (ext_authz and ext_proc), host:port; a headless Service spreads load per request.</summary>
    public string DecisionAddress { get; init; } = "aegis-decision.aegis-system.svc:9191";

    /// <summary>How long Envoy waits for a decision (ext_authz, HTTP and TLS) before failing closed; at most <see cref="MaxDecisionTimeout"/>.</summary>
    public TimeSpan DecisionTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long Envoy waits for the decision server's answer to one ext_proc message. A streamed response body (SSE from
    /// an LLM API or an MCP server) is answered chunk by chunk, and the processor may hold a chunk until the event it
    /// belongs to is complete, which depends on how fast the upstream streams; never less than <see cref="DecisionTimeout"/>.
    /// </summary>
    public TimeSpan ProcessingMessageTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an egress stream (a streamed answer, a CONNECT tunnel, a TLS connection) may be idle before Envoy closes it.</summary>
    public TimeSpan StreamIdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Request bodies up to this size reach the decision server; larger requests are refused with 413.</summary>
    public int MaxRequestBodyBytes { get; init; } = DefaultMaxRequestBodyBytes;

    /// <summary>The CA bundle of the Envoy image, which the TLS-originating cluster verifies ToolServer certificates against.</summary>
    public string SystemTrustBundle { get; init; } = "/etc/ssl/certs/ca-certificates.crt";

    /// <summary>Names that bypass the proxy (NO_PROXY): loopback only; in-cluster calls go through the sidecar like any other.</summary>
    public IReadOnlyList<string> NoProxy { get; init; } = ["localhost", "127.0.0.1", "::1"];

    /// <summary>The proxy URL application containers get in HTTP_PROXY and HTTPS_PROXY.</summary>
    public string ProxyUrl => $"http://127.0.0.1:{ProxyPort}";

    /// <summary>The decision server's host name, which its certificate must carry (the SNI Envoy sends and the SAN it checks).</summary>
    public string DecisionHost => EnvoyBootstrap.SplitAddress(DecisionAddress).Host;

    /// <summary>What is wrong with these options, naming the operator flag, or null when they are usable.</summary>
    public string? Problem()
    {
        try
        {
            EnvoyBootstrap.SplitAddress(DecisionAddress);
        }
        catch (FormatException e)
        {
            return "--decision-address: " + e.Message;
        }

        if (DecisionTimeout <= TimeSpan.Zero || DecisionTimeout > MaxDecisionTimeout)
        {
            return $"--decision-timeout-ms: {DecisionTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} is out of range: Envoy accepts 1 to {MaxDecisionTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms (ext_proc message_timeout is at most 3600s)";
        }

        if (ProcessingMessageTimeout <= TimeSpan.Zero || ProcessingMessageTimeout > MaxDecisionTimeout)
        {
            return $"the ext_proc message timeout {ProcessingMessageTimeout} is out of range: Envoy accepts up to 3600s";
        }

        if (MaxRequestBodyBytes is <= 0 or > DefaultMaxRequestBodyBytes)
        {
            return $"--max-request-body-bytes: {MaxRequestBodyBytes} is out of range: 1 to {DefaultMaxRequestBodyBytes} (the most the decision server reads)";
        }

        if (ProxyPort == TransparentPort)
        {
            return $"the proxy port and the transparent port must differ (both {ProxyPort})";
        }

        return null;
    }
}
