namespace Aegis.Operator.Certificates;

/// <summary>
/// The decision server's TLS as the operator issues it: the Service in the operator's namespace, the Secret the
/// decision server mounts, the ConfigMap with the CA bundle, and the rotation policy.
/// </summary>
public sealed record DecisionTlsOptions
{
    /// <summary>The operator's namespace, where the decision Service, the Secret and the ConfigMap live.</summary>
    public required string Namespace { get; init; }

    /// <summary>The decision server's Service; its DNS names go into the certificate (<c>--decision-service</c>).</summary>
    public string ServiceName { get; init; } = "aegis-decision";

    /// <summary>The Secret (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c>, <c>ca.key</c>) the decision server mounts <c>tls.crt</c> and <c>tls.key</c> of.</summary>
    public string SecretName { get; init; } = "aegis-decision-tls";

    /// <summary>A ConfigMap with the CA bundle (<c>ca.crt</c>) for anything else that calls the decision server.</summary>
    public string ConfigMapName { get; init; } = "aegis-decision-ca";

    public TimeSpan CaLifetime { get; init; } = TimeSpan.FromDays(5 * 365);

    /// <summary>Short: the decision server rereads its certificate files, so renewing costs nothing.</summary>
    public TimeSpan ServingLifetime { get; init; } = TimeSpan.FromDays(90);

    /// <summary>
    /// Sidecars carry the bundle they were injected with, so a new CA is trusted for this long before it signs: a
    /// sidecar older than this when that happens must be restarted (docs/sidecar.md).
    /// </summary>
    public TimeSpan PromoteAfter { get; init; } = TimeSpan.FromDays(365);

    /// <summary>How often the Secret and the ConfigMap are checked.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The Service's DNS names.</summary>
    public IReadOnlyList<string> DnsNames =>
        [ServiceName, $"{ServiceName}.{Namespace}", $"{ServiceName}.{Namespace}.svc", $"{ServiceName}.{Namespace}.svc.cluster.local"];

    public RotationPolicy Policy => new() { DnsNames = DnsNames, CaName = "aegis-decision-ca", CaLifetime = CaLifetime, ServingLifetime = ServingLifetime, PromoteAfter = PromoteAfter };
}
