using Aegis.Operator.Hosting;
using k8s;

namespace Aegis.Operator.Certificates;

/// <summary>Wires the decision server's TLS into the operator host: the rotator loop and the trust the injector reads.</summary>
public static class DecisionTransport
{
    public static void AddServices(IServiceCollection services, IKubernetes client, DecisionTlsOptions options)
    {
        services.AddSingleton<DecisionTrust>();
        services.AddSingleton(sp => new DecisionCertificateRotator(client, options, sp.GetRequiredService<DecisionTrust>(), TimeProvider.System,
            sp.GetRequiredService<ILogger<DecisionCertificateRotator>>()));
        services.AddSingleton<IHostedService>(sp => new OperatorHost.LoopService(sp.GetRequiredService<DecisionCertificateRotator>().RunAsync));
    }
}
