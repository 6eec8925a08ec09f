using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Certificates;

/// <summary>
/// Issues and rotates the decision server's serving certificate, on every replica, every
/// <see cref="DecisionTlsOptions.CheckInterval"/>: the Secret the decision server mounts (it rereads the files), the
/// ConfigMap with the CA bundle, and <see cref="DecisionTrust"/>, which the injector embeds in each sidecar. Sidecars
/// keep the bundle they started with, so a new CA is trusted for <see cref="DecisionTlsOptions.PromoteAfter"/> before
/// it signs (<see cref="CertificateRotation"/>).
/// </summary>
public sealed partial class DecisionCertificateRotator(IKubernetes client, DecisionTlsOptions options, DecisionTrust trust, TimeProvider time, ILogger<DecisionCertificateRotator> logger)
{
    private readonly TlsSecretStore _secrets = new(client, options.Namespace, options.SecretName);

    /// <summary>True once the bundle is published (to the ConfigMap and to the injector).</summary>
    public bool Ready { get; private set; }

    public Task RunAsync(CancellationToken cancellationToken) =>
        TlsSecretStore.RunAsync(ReconcileAsync, () => Ready, options.CheckInterval, time, reason => LogFailed(logger, options.SecretName, reason), cancellationToken);

    /// <summary>One round: at most one rotation step, then the bundle published to the ConfigMap and the injector.</summary>
    public async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        if (await _secrets.AdvanceAsync(time.GetUtcNow(), options.Policy, what => LogRotation(logger, what), cancellationToken).ConfigureAwait(false) is not { } material)
        {
            return;
        }

        await PublishConfigMapAsync(material.BundlePem, cancellationToken).ConfigureAwait(false);
        trust.Publish(material.BundlePem);
        Ready = true;
    }

    private async Task PublishConfigMapAsync(string bundle, CancellationToken cancellationToken)
    {
        V1ConfigMap? current;
        try
        {
            current = await client.CoreV1.ReadNamespacedConfigMapAsync(options.ConfigMapName, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            current = null;
        }

        if (current?.Data is { } data && data.TryGetValue(TlsMaterial.BundleKey, out var published) && published == bundle)
        {
            return;
        }

        var desired = new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta
            {
                Name = options.ConfigMapName,
                NamespaceProperty = options.Namespace,
                ResourceVersion = current?.Metadata.ResourceVersion,
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "aegis-operator" },
            },
            Data = new Dictionary<string, string> { [TlsMaterial.BundleKey] = bundle },
        };
        try
        {
            _ = current is null
                ? await client.CoreV1.CreateNamespacedConfigMapAsync(desired, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await client.CoreV1.ReplaceNamespacedConfigMapAsync(desired, options.ConfigMapName, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Another replica published first; the next round compares again.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "decision server certificates ({Secret}): {Reason}; retrying")]
    private static partial void LogFailed(ILogger logger, string secret, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "decision server certificates: {What}")]
    private static partial void LogRotation(ILogger logger, string what);
}
