namespace Aegis.Operator.Certificates;

/// <summary>Who provides the webhook's serving certificate.</summary>
public enum CertificateSource
{
    /// <summary>The operator: its own CA in a Secret, written into the caBundle, rotated before expiry.</summary>
    Operator,

    /// <summary>cert-manager writes the Secret and its CA injector the caBundle; the operator only serves the certificate.</summary>
    CertManager,
}

/// <summary>The webhook's Service, Secret, registration and certificate lifetimes.</summary>
public sealed record WebhookTlsOptions
{
    /// <summary>The operator's namespace, where the Service and the Secret live.</summary>
    public required string Namespace { get; init; }

    public string ServiceName { get; init; } = "aegis-operator-webhook";

    /// <summary>The Service port the API server calls (it forwards to the operator's HTTPS port).</summary>
    public int ServicePort { get; init; } = 443;

    public string SecretName { get; init; } = "aegis-webhook-tls";

    public string ConfigurationName { get; init; } = "aegis-sidecar-injector";

    public CertificateSource Source { get; init; } = CertificateSource.Operator;

    /// <summary>cert-manager mode: the Certificate (namespace/name) whose CA the injector copies into the caBundle.</summary>
    public string CertManagerCertificate => $"{Namespace}/{SecretName}";

    public TimeSpan CaLifetime { get; init; } = TimeSpan.FromDays(5 * 365);

    public TimeSpan ServingLifetime { get; init; } = TimeSpan.FromDays(365);

    /// <summary>How often the Secret and the registration are checked (and the certificate reloaded).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Rotation of the webhook's CA and certificate; the API server rereads the caBundle, so a new CA signs from the next round on.</summary>
    public RotationPolicy Policy => new() { DnsNames = DnsNames, CaName = "aegis-webhook-ca", CaLifetime = CaLifetime, ServingLifetime = ServingLifetime, PromoteAfter = TimeSpan.Zero };

    /// <summary>The Service's DNS names, which the serving certificate carries and the API server checks.</summary>
    public IReadOnlyList<string> DnsNames =>
        [ServiceName, $"{ServiceName}.{Namespace}", $"{ServiceName}.{Namespace}.svc", $"{ServiceName}.{Namespace}.svc.cluster.local"];
}
