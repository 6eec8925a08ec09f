using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Aegis.Operator.Certificates;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Aegis.Operator.Hosting;

/// <summary>Where the operator's HTTPS certificate comes from.</summary>
public enum HttpsCertificateSource
{
    /// <summary>Issued by each replica from the operator's CA (the webhook's, in its Secret); the CA is published for decision servers.</summary>
    Operator,

    /// <summary>Read from a TLS Secret someone else keeps (cert-manager, say).</summary>
    Secret,
}

/// <summary>HTTPS on the operator's HTTP port: decision servers fetch bundles and the JWKS over it, agents their tokens.</summary>
public sealed record OperatorHttpsOptions
{
    /// <summary>The operator's namespace.</summary>
    public required string Namespace { get; init; }

    /// <summary>The Service in front of the HTTP port: its DNS names go into the certificate.</summary>
    public string ServiceName { get; init; } = "aegis-operator";

    public HttpsCertificateSource Source { get; init; } = HttpsCertificateSource.Operator;

    /// <summary>The Secret holding the operator's CA (<c>ca.crt</c>, <c>ca.key</c>), which the webhook's certificate rotator keeps.</summary>
    public string CaSecretName { get; init; } = "aegis-webhook-tls";

    /// <summary>With <see cref="HttpsCertificateSource.Secret"/>: the TLS Secret (<c>tls.crt</c>, <c>tls.key</c>).</summary>
    public string SecretName { get; init; } = "aegis-operator-tls";

    /// <summary>The ConfigMap the trusted CA bundle is published in (<c>ca.crt</c>), for decision servers to mount as <c>--ca-file</c>.</summary>
    public string CaConfigMapName { get; init; } = "aegis-operator-ca";

    /// <summary>How long a new CA must have existed before certificates are issued from it: decision servers reload the bundle in that time.</summary>
    public TimeSpan TrustPropagation { get; init; } = TimeSpan.FromMinutes(2);

    public TimeSpan ServingLifetime { get; init; } = TimeSpan.FromDays(30);

    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The DNS names the certificate carries.</summary>
    public IReadOnlyList<string> DnsNames =>
        [ServiceName, $"{ServiceName}.{Namespace}", $"{ServiceName}.{Namespace}.svc", $"{ServiceName}.{Namespace}.svc.cluster.local"];
}

/// <summary>
/// Serves the operator's HTTP port over TLS: each replica issues its own serving certificate from the operator's CA
/// (never written anywhere: the private key stays in memory), renews it before it expires, and publishes the CA bundle
/// in a ConfigMap that decision servers trust (<c>aegis serve --ca-file</c>). A CA the webhook's rotator has just made
/// is used only after <see cref="OperatorHttpsOptions.TrustPropagation"/>, so decision servers trust it first.
/// </summary>
public sealed partial class OperatorHttps(IKubernetes client, OperatorHttpsOptions options, ServingCertificate serving, TimeProvider time, ILogger<OperatorHttps> logger)
{
    /// <summary>True once a certificate is loaded.</summary>
    public bool Ready => serving.Current is not null;

    public static void AddServices(IServiceCollection services, OperatorOptions options)
    {
        if (options.Https is not { } https)
        {
            return;
        }

        services.AddKeyedSingleton<ServingCertificate>(nameof(OperatorHttps));
        services.AddSingleton(sp => new OperatorHttps(options.Client, https, sp.GetRequiredKeyedService<ServingCertificate>(nameof(OperatorHttps)), options.Time,
            sp.GetRequiredService<ILogger<OperatorHttps>>()));
        services.AddSingleton<IHostedService>(sp => new OperatorHost.LoopService(sp.GetRequiredService<OperatorHttps>().RunAsync));
    }

    /// <summary>The HTTP port: TLS with the current certificate when HTTPS is on (each handshake reads it, so renewal needs no restart).</summary>
    public static void Listen(KestrelServerOptions kestrel, OperatorOptions options)
    {
        if (options.Https is null)
        {
            kestrel.Listen(options.ListenAddress, options.HttpPort);
            return;
        }

        var certificate = kestrel.ApplicationServices.GetRequiredKeyedService<ServingCertificate>(nameof(OperatorHttps));
        kestrel.Listen(options.ListenAddress, options.HttpPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificateSelector = (_, _) => certificate.Current });
        });
    }

    /// <summary>Ready when HTTPS has a certificate to present (always, when HTTPS is off).</summary>
    public static bool IsReady(IServiceProvider services) => services.GetService<OperatorHttps>()?.Ready ?? true;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ReconcileAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or CryptographicException or InvalidDataException)
            {
                LogFailed(logger, e.Message);
            }

            try
            {
                await Task.Delay(Ready ? options.CheckInterval : TimeSpan.FromSeconds(Math.Min(2, options.CheckInterval.TotalSeconds)), time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: load (or issue) the serving certificate and publish the CA bundle.</summary>
    public async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (options.Source == HttpsCertificateSource.Secret)
        {
            if (await ReadSecretAsync(options.SecretName, cancellationToken).ConfigureAwait(false) is { } tls && tls.TryGetValue("tls.crt", out var crt) && tls.TryGetValue("tls.key", out var key))
            {
                serving.Load(new PemPair(Encoding.ASCII.GetString(crt), Encoding.ASCII.GetString(key)));
            }
            else
            {
                LogWaiting(logger, options.Namespace, options.SecretName);
            }

            return;
        }

        // The webhook's Secret holds the operator CA (the active one signs; a pending one is trusted ahead of its use).
        if (TlsMaterial.Read(await ReadSecretAsync(options.CaSecretName, cancellationToken).ConfigureAwait(false)) is not { } material)
        {
            LogWaiting(logger, options.Namespace, options.CaSecretName);
            return;
        }

        var bundleText = material.BundlePem;
        var trusted = OperatorCertificateAuthority.ReadBundle(bundleText);
        await PublishBundleAsync(bundleText, cancellationToken).ConfigureAwait(false);
        var ca = material.ActiveCa;
        var caCertificate = X509Certificate2.CreateFromPem(ca.CertificatePem);
        var current = serving.Current;
        var young = new DateTimeOffset(caCertificate.NotBefore) + TimeSpan.FromMinutes(5) + options.TrustPropagation > now;
        var stale = current is null || OperatorCertificateAuthority.NeedsRenewal(current, now) || !trusted.Any(c => OperatorCertificateAuthority.IsIssuedBy(current, c))
            || !OperatorCertificateAuthority.Names(current, options.DnsNames);
        if (stale && (current is null || !young || current.NotAfter <= now.UtcDateTime))
        {
            serving.Load(OperatorCertificateAuthority.IssueServing(ca, options.DnsNames, now, options.ServingLifetime));
            LogIssued(logger, options.DnsNames[0]);
        }
    }

    private async Task<IDictionary<string, byte[]>?> ReadSecretAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return (await client.CoreV1.ReadNamespacedSecretAsync(name, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false)).Data;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Writes the CA bundle into its ConfigMap when it differs (every replica may; the content is the same).</summary>
    private async Task PublishBundleAsync(string bundle, CancellationToken cancellationToken)
    {
        V1ConfigMap? current;
        try
        {
            current = await client.CoreV1.ReadNamespacedConfigMapAsync(options.CaConfigMapName, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            current = null;
        }

        if (current?.Data?.TryGetValue("ca.crt", out var published) == true && published == bundle)
        {
            return;
        }

        var map = new V1ConfigMap
        {
            Metadata = new V1ObjectMeta
            {
                Name = options.CaConfigMapName,
                NamespaceProperty = options.Namespace,
                ResourceVersion = current?.Metadata.ResourceVersion,
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "aegis-operator" },
            },
            Data = new Dictionary<string, string> { ["ca.crt"] = bundle },
        };
        try
        {
            _ = current is null
                ? await client.CoreV1.CreateNamespacedConfigMapAsync(map, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await client.CoreV1.ReplaceNamespacedConfigMapAsync(map, options.CaConfigMapName, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Another replica published at the same moment; the next round compares again.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "operator HTTPS certificate: {Reason}; retrying")]
    private static partial void LogFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "waiting for Secret {Namespace}/{Secret} to serve HTTPS")]
    private static partial void LogWaiting(ILogger logger, string @namespace, string secret);

    [LoggerMessage(Level = LogLevel.Information, Message = "issued the operator's HTTPS certificate for {Service} and its cluster DNS names")]
    private static partial void LogIssued(ILogger logger, string service);
}
