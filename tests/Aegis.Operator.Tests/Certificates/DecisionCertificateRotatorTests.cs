using System.Security.Cryptography.X509Certificates;
using System.Text;
using Aegis.Operator.Certificates;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Certificates;

public class DecisionCertificateRotatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);

    /// <summary>60-day CA renewed with 20 days left (promoted by force with 10 left); the new CA is trusted 6 days before it signs; 9-day leaves.</summary>
    private static readonly DecisionTlsOptions Tls = new()
    {
        Namespace = "aegis-system",
        CaLifetime = TimeSpan.FromDays(60),
        ServingLifetime = TimeSpan.FromDays(9),
        PromoteAfter = TimeSpan.FromDays(6),
    };

    [Fact]
    public async Task Reconcile_ThroughARotation_ASidecarInjectedBeforeTheNewCaKeepsVerifyingUntilTheDelayHasPassed()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var trust = new DecisionTrust();
        var time = new ManualTime(T0);
        var rotator = new DecisionCertificateRotator(client, Tls, trust, time, NullLogger<DecisionCertificateRotator>.Instance);

        async Task<(X509Certificate2 Leaf, X509Certificate2Collection Bundle)> RoundAsync(int day)
        {
            time.Now = T0.AddDays(day);
            await rotator.ReconcileAsync(CancellationToken.None);
            var secret = await client.CoreV1.ReadNamespacedSecretAsync(Tls.SecretName, Tls.Namespace);
            var configMap = await client.CoreV1.ReadNamespacedConfigMapAsync(Tls.ConfigMapName, Tls.Namespace);
            Assert.Equal(trust.Bundle, configMap.Data["ca.crt"]);
            Assert.Equal(Encoding.ASCII.GetString(secret.Data["ca.crt"]), trust.Bundle);
            return (X509Certificate2.CreateFromPem(Encoding.ASCII.GetString(secret.Data["tls.crt"])), OperatorCertificateAuthority.ReadBundle(trust.Bundle!));
        }

        var first = await RoundAsync(0);
        Assert.True(rotator.Ready);
        Assert.True(WebhookCertificateRotatorTests.Verifies(first.Leaf, first.Bundle, T0, "aegis-decision.aegis-system.svc"));
        Assert.Equal(["aegis-decision", "aegis-decision.aegis-system", "aegis-decision.aegis-system.svc", "aegis-decision.aegis-system.svc.cluster.local"],
            first.Leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        var injectedEarly = first.Bundle;

        // Leaves renew from the CA (every 6 days) and keep verifying.
        foreach (var day in new[] { 7, 13, 19, 25, 31, 37 })
        {
            var renewed = await RoundAsync(day);
            Assert.True(WebhookCertificateRotatorTests.Verifies(renewed.Leaf, injectedEarly, T0.AddDays(day), "aegis-decision.aegis-system.svc"), $"day {day}");
        }

        // Day 41: less than a third of the CA's life left; a new CA joins the bundle and signs nothing yet.
        var added = await RoundAsync(41);
        Assert.Equal(2, added.Bundle.Count);
        Assert.True(WebhookCertificateRotatorTests.Verifies(added.Leaf, injectedEarly, T0.AddDays(41), "aegis-decision.aegis-system.svc"));
        var injectedAfterTheNewCa = added.Bundle;

        // Days 42 to 46: still not promoted, so the sidecar injected on day 0 still verifies.
        foreach (var day in new[] { 42, 44, 46 })
        {
            var waiting = await RoundAsync(day);
            Assert.True(WebhookCertificateRotatorTests.Verifies(waiting.Leaf, injectedEarly, T0.AddDays(day), "aegis-decision.aegis-system.svc"), $"day {day}");
        }

        // Day 47: six days after the new CA was published, it signs; sidecars injected since day 41 trust it.
        var promoted = await RoundAsync(47);
        Assert.True(WebhookCertificateRotatorTests.Verifies(promoted.Leaf, injectedAfterTheNewCa, T0.AddDays(47), "aegis-decision.aegis-system.svc"));
        Assert.False(WebhookCertificateRotatorTests.Verifies(promoted.Leaf, injectedEarly, T0.AddDays(47), "aegis-decision.aegis-system.svc"));
        var secret = await client.CoreV1.ReadNamespacedSecretAsync(Tls.SecretName, Tls.Namespace);
        Assert.Equal(["ca.crt", "ca.key", "tls.crt", "tls.key"], secret.Data.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Reconcile_TwoReplicas_SettleOnOneCertificate()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var (a, b) = (new DecisionTrust(), new DecisionTrust());
        var time = new ManualTime(T0);
        var first = new DecisionCertificateRotator(client, Tls, a, time, NullLogger<DecisionCertificateRotator>.Instance);
        var second = new DecisionCertificateRotator(client, Tls, b, time, NullLogger<DecisionCertificateRotator>.Instance);

        await Task.WhenAll(first.ReconcileAsync(CancellationToken.None), second.ReconcileAsync(CancellationToken.None));
        await Task.WhenAll(first.ReconcileAsync(CancellationToken.None), second.ReconcileAsync(CancellationToken.None));

        Assert.NotNull(a.Bundle);
        Assert.Equal(a.Bundle, b.Bundle);
        Assert.Single(api.Objects("", "secrets"));
    }
}
