using System.Net;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Certificates;

/// <summary>
/// Keeps the webhook's TLS in order, on every replica, every <see cref="WebhookTlsOptions.CheckInterval"/>: the Secret
/// (<see cref="TlsMaterial"/>), the registration with its bundle as caBundle, and the serving certificate Kestrel
/// presents. Rotation (<see cref="CertificateRotation"/>) never breaks a handshake: a new CA is first added to the
/// bundle next to the old one and published; the API server rereads the caBundle on every call, so the serving
/// certificate moves to the new CA in the next round; an old CA leaves the bundle when it expires.
/// </summary>
public sealed partial class WebhookCertificateRotator(IKubernetes client, WebhookTlsOptions options, ServingCertificate serving, TimeProvider time, ILogger<WebhookCertificateRotator> logger)
{
    private readonly TlsSecretStore _secrets = new(client, options.Namespace, options.SecretName);

    /// <summary>True once a serving certificate is loaded and, in operator mode, its CA is published.</summary>
    public bool Ready { get; private set; }

    public Task RunAsync(CancellationToken cancellationToken) =>
        TlsSecretStore.RunAsync(ReconcileAsync, () => Ready, options.CheckInterval, time, reason => LogFailed(logger, options.SecretName, reason), cancellationToken);

    /// <summary>One round: renew what needs renewing (at most one step), publish the CA bundle, load the serving certificate.</summary>
    public async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (options.Source == CertificateSource.CertManager)
        {
            if (Pair(await _secrets.ReadAsync(cancellationToken).ConfigureAwait(false)) is not { } issued)
            {
                LogWaiting(logger, options.Namespace, options.SecretName);
                return;
            }

            await RegisterAsync(null, cancellationToken).ConfigureAwait(false);
            serving.Load(issued);
            Ready = true;
            return;
        }

        if (await _secrets.AdvanceAsync(time.GetUtcNow(), options.Policy, what => LogRotation(logger, what), cancellationToken).ConfigureAwait(false) is not { } material)
        {
            return;
        }

        await RegisterAsync(Encoding.ASCII.GetBytes(material.BundlePem), cancellationToken).ConfigureAwait(false);
        serving.Load(material.Leaf);
        Ready = true;
    }

    private static PemPair? Pair(V1Secret? secret) =>
        secret?.Data is { } data && data.TryGetValue("tls.crt", out var crt) && data.TryGetValue("tls.key", out var key)
            ? new PemPair(Encoding.ASCII.GetString(crt), Encoding.ASCII.GetString(key))
            : null;

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

    [LoggerMessage(Level = LogLevel.Information, Message = "webhook certificates: {What}")]
    private static partial void LogRotation(ILogger logger, string what);

    [LoggerMessage(Level = LogLevel.Information, Message = "registered MutatingWebhookConfiguration {Name}")]
    private static partial void LogRegistered(ILogger logger, string name);
}
