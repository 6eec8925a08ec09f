using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Certificates;

/// <summary>
/// Keeps the webhook's TLS in order, on every replica, every <see cref="WebhookTlsOptions.CheckInterval"/>: the Secret
/// (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c> = the trusted CA bundle, <c>ca.key</c>), the registration with that
/// bundle as caBundle, and the serving certificate Kestrel presents. Writes carry the resourceVersion they read, so
/// replicas racing settle on one winner. Rotation never breaks a handshake: a new CA is first added to the bundle
/// next to the old one and published; only in a later round is the serving certificate re-issued from it; an old CA
/// leaves the bundle when it expires.
/// </summary>
public sealed partial class WebhookCertificateRotator(IKubernetes client, WebhookTlsOptions options, ServingCertificate serving, TimeProvider time, ILogger<WebhookCertificateRotator> logger)
{
    public const string CaKey = "ca.crt";
    public const string CaPrivateKey = "ca.key";

    /// <summary>True once a serving certificate is loaded and, in operator mode, its CA is published.</summary>
    public bool Ready { get; private set; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ReconcileAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
            {
                LogFailed(logger, options.SecretName, e.Message);
            }

            await Task.Delay(Ready ? options.CheckInterval : TimeSpan.FromSeconds(Math.Min(2, options.CheckInterval.TotalSeconds)), time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One round: renew what needs renewing (at most one step), publish the CA bundle, load the serving certificate.</summary>
    public async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var secret = await ReadSecretAsync(cancellationToken).ConfigureAwait(false);
        if (options.Source == CertificateSource.CertManager)
        {
            if (Pair(secret) is not { } issued)
            {
                LogWaiting(logger, options.Namespace, options.SecretName);
                return;
            }

            await RegisterAsync(null, cancellationToken).ConfigureAwait(false);
            serving.Load(issued);
            Ready = true;
            return;
        }

        var now = time.GetUtcNow();
        var next = NextState(secret, now);
        if (next is not null)
        {
            var written = await WriteSecretAsync(secret, next, cancellationToken).ConfigureAwait(false);
            if (written is null)
            {
                // Another replica wrote first; the next round reads its result.
                return;
            }

            secret = written;
        }

        await RegisterAsync(secret!.Data[CaKey], cancellationToken).ConfigureAwait(false);
        serving.Load(Pair(secret)!);
        Ready = true;
    }

    /// <summary>The Secret's next data, or null when it needs no change.</summary>
    private Dictionary<string, byte[]>? NextState(V1Secret? secret, DateTimeOffset now)
    {
        var data = secret?.Data;
        PemPair? ca = null, leaf = null;
        X509Certificate2Collection? bundle = null;
        try
        {
            if (data is not null && data.TryGetValue(CaKey, out var caPem) && data.TryGetValue(CaPrivateKey, out var caKey) && Pair(secret) is { } pair)
            {
                bundle = WebhookCertificateAuthority.ReadBundle(Encoding.ASCII.GetString(caPem));
                ca = new PemPair(bundle[0].ExportCertificatePem(), Encoding.ASCII.GetString(caKey));
                leaf = pair;
            }
        }
        catch (CryptographicException e)
        {
            LogUnreadable(logger, options.SecretName, e.Message);
        }

        if (ca is null || leaf is null || bundle is null || bundle[0].NotAfter <= now.UtcDateTime)
        {
            // Nothing usable (or the CA expired while nobody renewed it): start over; nothing can be kept working anyway.
            var freshCa = WebhookCertificateAuthority.CreateCa(now, options.CaLifetime);
            LogIssued(logger, "a new CA and serving certificate", options.SecretName);
            return State(freshCa, [freshCa.Certificate()], WebhookCertificateAuthority.IssueServing(freshCa, options.DnsNames, now, options.ServingLifetime));
        }

        using var caCert = ca.Certificate();
        using var leafCert = leaf.Certificate();
        var stillValid = bundle.Where(c => c.NotAfter > now.UtcDateTime).ToList();
        if (WebhookCertificateAuthority.NeedsRenewal(caCert, now))
        {
            // Step 1 of a CA rotation: trust the new CA beside the old; the serving certificate stays with the old CA,
            // which the API server trusts already (re-issued from it when due, never outliving it).
            var newCa = WebhookCertificateAuthority.CreateCa(now, options.CaLifetime);
            LogIssued(logger, "a new CA (the old one stays trusted until it expires)", options.SecretName);
            var kept = WebhookCertificateAuthority.NeedsRenewal(leafCert, now) ? WebhookCertificateAuthority.IssueServing(ca, options.DnsNames, now, options.ServingLifetime) : leaf;
            return State(newCa, [newCa.Certificate(), .. stillValid], kept);
        }

        if (WebhookCertificateAuthority.NeedsRenewal(leafCert, now) || !WebhookCertificateAuthority.IsIssuedBy(leafCert, caCert)
            || !WebhookCertificateAuthority.Names(leafCert, options.DnsNames))
        {
            LogIssued(logger, "a new serving certificate", options.SecretName);
            return State(ca, stillValid, WebhookCertificateAuthority.IssueServing(ca, options.DnsNames, now, options.ServingLifetime));
        }

        return stillValid.Count < bundle.Count ? State(ca, stillValid, leaf) : null;
    }

    private static Dictionary<string, byte[]> State(PemPair ca, IEnumerable<X509Certificate2> trusted, PemPair leaf) => new()
    {
        ["tls.crt"] = Encoding.ASCII.GetBytes(leaf.CertificatePem),
        ["tls.key"] = Encoding.ASCII.GetBytes(leaf.KeyPem),
        [CaKey] = Encoding.ASCII.GetBytes(string.Join('\n', trusted.Select(c => c.ExportCertificatePem())) + "\n"),
        [CaPrivateKey] = Encoding.ASCII.GetBytes(ca.KeyPem),
    };

    private static PemPair? Pair(V1Secret? secret) =>
        secret?.Data is { } data && data.TryGetValue("tls.crt", out var crt) && data.TryGetValue("tls.key", out var key)
            ? new PemPair(Encoding.ASCII.GetString(crt), Encoding.ASCII.GetString(key))
            : null;

    private async Task<V1Secret?> ReadSecretAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(options.SecretName, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Creates or replaces the Secret; null when another writer got there first (409).</summary>
    private async Task<V1Secret?> WriteSecretAsync(V1Secret? current, Dictionary<string, byte[]> data, CancellationToken cancellationToken)
    {
        var secret = new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "kubernetes.io/tls",
            Metadata = new V1ObjectMeta
            {
                Name = options.SecretName,
                NamespaceProperty = options.Namespace,
                ResourceVersion = current?.Metadata.ResourceVersion,
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "aegis-operator" },
            },
            Data = data,
        };
        try
        {
            return current is null
                ? await client.CoreV1.CreateNamespacedSecretAsync(secret, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await client.CoreV1.ReplaceNamespacedSecretAsync(secret, options.SecretName, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }
    }

    /// <summary>Creates or updates the MutatingWebhookConfiguration; with a null bundle (cert-manager) the one present is kept.</summary>
    private async Task RegisterAsync(byte[]? caBundle, CancellationToken cancellationToken)
    {
        V1MutatingWebhookConfiguration? current;
        try
        {
            current = await client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync(options.ConfigurationName, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            current = null;
        }

        var desired = WebhookRegistration.Desired(options, caBundle ?? current?.Webhooks?.FirstOrDefault()?.ClientConfig?.CaBundle);
        if (current is null)
        {
            await client.AdmissionregistrationV1.CreateMutatingWebhookConfigurationAsync(desired, cancellationToken: cancellationToken).ConfigureAwait(false);
            LogRegistered(logger, options.ConfigurationName);
            return;
        }

        if (KubernetesJson.Serialize(current.Webhooks) == KubernetesJson.Serialize(desired.Webhooks) && InjectFrom(current) == InjectFrom(desired))
        {
            return;
        }

        desired.Metadata.ResourceVersion = current.Metadata.ResourceVersion;
        try
        {
            await client.AdmissionregistrationV1.ReplaceMutatingWebhookConfigurationAsync(desired, options.ConfigurationName, cancellationToken: cancellationToken).ConfigureAwait(false);
            LogRegistered(logger, options.ConfigurationName);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Another replica updated it; the next round compares again.
        }
    }

    private static string? InjectFrom(V1MutatingWebhookConfiguration configuration) =>
        configuration.Metadata.Annotations is { } annotations && annotations.TryGetValue(WebhookRegistration.CertManagerInjectAnnotation, out var value) ? value : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "webhook certificates ({Secret}): {Reason}; retrying")]
    private static partial void LogFailed(ILogger logger, string secret, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "waiting for cert-manager to write Secret {Namespace}/{Secret}")]
    private static partial void LogWaiting(ILogger logger, string @namespace, string secret);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Secret {Secret} cannot be read as certificates ({Reason}); issuing new ones")]
    private static partial void LogUnreadable(ILogger logger, string secret, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "issued {What} into Secret {Secret}")]
    private static partial void LogIssued(ILogger logger, string what, string secret);

    [LoggerMessage(Level = LogLevel.Information, Message = "registered MutatingWebhookConfiguration {Name}")]
    private static partial void LogRegistered(ILogger logger, string name);
}
