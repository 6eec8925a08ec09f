using System.Net;
using Aegis.Operator.Certificates;
using Aegis.Operator.Caching;
using Aegis.Operator.Hosting;
using Aegis.Operator.Sidecar;
using k8s;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Aegis.Operator.Injection;

/// <summary>How the operator serves the injection webhook: its HTTPS port, its TLS and registration, and the sidecar it injects.</summary>
public sealed record WebhookHostOptions
{
    /// <summary>HTTPS port for <c>/mutate-pods</c> (9443 by default; 0 picks one, for tests).</summary>
    public int Port { get; init; } = 9443;

    public required WebhookTlsOptions Tls { get; init; }

    public SidecarOptions Sidecar { get; init; } = new();
}

/// <summary>Wires the injection webhook into the operator host: services, the HTTPS listener, and the endpoint.</summary>
public static class SidecarInjection
{
    public static void AddServices(IServiceCollection services, IKubernetes client, string operatorNamespace, WebhookHostOptions webhook, TimeProvider time)
    {
        services.AddSingleton<ServingCertificate>();
        services.AddSingleton(sp => new WebhookCertificateRotator(client, webhook.Tls, sp.GetRequiredService<ServingCertificate>(), time,
            sp.GetRequiredService<ILogger<WebhookCertificateRotator>>()));
        services.AddSingleton(sp => new NamespaceLabelCache(client, sp.GetRequiredService<InformerCache>().For<k8s.Models.V1Namespace>()));
        // Without a DecisionTrust (the operator issues no decision certificate) nothing is published and every pod is refused.
        services.AddSingleton(sp => new PodInjectionWebhook(new PodInjector(webhook.Sidecar, operatorNamespace, sp.GetService<DecisionTrust>() ?? new DecisionTrust()), sp.GetRequiredService<NamespaceLabelCache>(),
            sp.GetRequiredService<ILogger<PodInjectionWebhook>>()));
        services.AddSingleton<IHostedService>(sp => new OperatorHost.LoopService(sp.GetRequiredService<WebhookCertificateRotator>().RunAsync));
    }

    /// <summary>The HTTPS listener; each handshake presents the current certificate, so rotation needs no restart.</summary>
    public static void Listen(KestrelServerOptions kestrel, IPAddress address, WebhookHostOptions webhook)
    {
        var certificate = kestrel.ApplicationServices.GetRequiredService<ServingCertificate>();
        kestrel.Listen(address, webhook.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificateSelector = (_, _) => certificate.Current });
        });
    }

    public static void Map(WebApplication app) => app.Services.GetRequiredService<PodInjectionWebhook>().Map(app);

    /// <summary>Ready when the webhook has a certificate to present and the decision server's CA is published (always, when they are off).</summary>
    public static bool Ready(IServiceProvider services) =>
        (services.GetService<WebhookCertificateRotator>()?.Ready ?? true) && (services.GetService<DecisionCertificateRotator>()?.Ready ?? true);
}
