using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Aegis.Operator.Certificates;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Certificates;

public class WebhookCertificateRotatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 9, 0, 0, TimeSpan.Zero);

    private static readonly WebhookTlsOptions Tls = new() { Namespace = "aegis-system", CaLifetime = TimeSpan.FromDays(30), ServingLifetime = TimeSpan.FromDays(9) };

    [Fact]
    public async Task Reconcile_ThroughCaAndServingRotations_ServedCertificateAlwaysChainsToThePublishedBundle()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        using var serving = new ServingCertificate();
        var time = new ManualTime(T0);
        var rotator = new WebhookCertificateRotator(client, Tls, serving, time, NullLogger<WebhookCertificateRotator>.Instance);

        async Task<(string Leaf, string[] Bundle)> RoundAsync(int day)
        {
            time.Now = T0.AddDays(day);
            await rotator.ReconcileAsync(CancellationToken.None);
            var bundle = await PublishedBundleAsync(client);
            // What the API server would do at this moment: verify the presented certificate against the caBundle.
            Assert.True(Verifies(serving.Current!, bundle, time.Now, "aegis-operator-webhook.aegis-system.svc"), $"day {day}: the served certificate does not chain to the published bundle");
            return (serving.Current!.Thumbprint, [.. bundle.Select(c => c.Thumbprint)]);
        }

        var first = await RoundAsync(0);
        Assert.Single(first.Bundle);
        var unchanged = await RoundAsync(1);
        Assert.Equal(first.Leaf, unchanged.Leaf);
        Assert.Equal(first.Bundle, unchanged.Bundle);

        // A 9-day leaf is renewed once less than 3 days are left: days 7, 13 and 19.
        var renewed = first;
        foreach (var day in new[] { 7, 13, 19 })
        {
            var next = await RoundAsync(day);
            Assert.NotEqual(renewed.Leaf, next.Leaf);
            Assert.Equal(first.Bundle, next.Bundle);
            renewed = next;
        }

        // The CA has less than a third of its life left: the new CA joins the bundle, the leaf stays.
        var caAdded = await RoundAsync(21);
        Assert.Equal(2, caAdded.Bundle.Length);
        Assert.Equal(first.Bundle[0], caAdded.Bundle[1]);
        Assert.Equal(renewed.Leaf, caAdded.Leaf);

        // Only in the next round is the leaf re-issued from the new CA.
        var switched = await RoundAsync(21);
        Assert.NotEqual(caAdded.Leaf, switched.Leaf);
        Assert.Equal(caAdded.Bundle, switched.Bundle);
        Assert.True(OperatorCertificateAuthority.IsIssuedBy(serving.Current!, (await PublishedBundleAsync(client))[0]));

        // The old CA expired: it leaves the bundle.
        var pruned = await RoundAsync(31);
        Assert.Equal([caAdded.Bundle[0]], pruned.Bundle);

        var secret = await client.CoreV1.ReadNamespacedSecretAsync("aegis-webhook-tls", "aegis-system");
        Assert.Equal("kubernetes.io/tls", secret.Type);
        Assert.Equal(["ca.crt", "ca.key", "tls.crt", "tls.key"], secret.Data.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Reconcile_CertManagerMode_ServesItsSecretAndKeepsTheInjectedCaBundle()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        using var serving = new ServingCertificate();
        var options = Tls with { Source = CertificateSource.CertManager };
        var rotator = new WebhookCertificateRotator(client, options, serving, new ManualTime(T0), NullLogger<WebhookCertificateRotator>.Instance);

        await rotator.ReconcileAsync(CancellationToken.None);
        Assert.False(rotator.Ready);
        Assert.Empty(api.Objects("", "secrets"));

        // cert-manager writes the Secret and its CA injector the caBundle.
        var ca = OperatorCertificateAuthority.CreateCa(T0, TimeSpan.FromDays(90));
        var leaf = OperatorCertificateAuthority.IssueServing(ca, options.DnsNames, T0, TimeSpan.FromDays(30));
        await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = options.SecretName },
            Type = "kubernetes.io/tls",
            Data = new Dictionary<string, byte[]> { ["tls.crt"] = Encoding.ASCII.GetBytes(leaf.CertificatePem), ["tls.key"] = Encoding.ASCII.GetBytes(leaf.KeyPem) },
        }, options.Namespace);
        await rotator.ReconcileAsync(CancellationToken.None);
        var registered = await client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync(options.ConfigurationName);
        Assert.Equal("aegis-system/aegis-webhook-tls", registered.Metadata.Annotations["cert-manager.io/inject-ca-from"]);
        foreach (var hook in registered.Webhooks)
        {
            hook.ClientConfig.CaBundle = Encoding.ASCII.GetBytes(ca.CertificatePem);
        }

        await client.AdmissionregistrationV1.ReplaceMutatingWebhookConfigurationAsync(registered, options.ConfigurationName);
        await rotator.ReconcileAsync(CancellationToken.None);

        Assert.True(rotator.Ready);
        Assert.Equal(leaf.Certificate().Thumbprint, serving.Current!.Thumbprint);
        Assert.Equal(ca.CertificatePem, (await PublishedBundleAsync(client))[0].ExportCertificatePem());
        Assert.DoesNotContain(api.Objects("", "secrets"), s => s["data"]?["ca.key"] is not null);
    }

    [Fact]
    public async Task ApiServer_WebhookConfigurationWithoutSideEffects_IsRejectedWith422()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var invalid = WebhookRegistration.Desired(Tls, null);
        invalid.Webhooks[0].SideEffects = null;
        invalid.Webhooks[1].TimeoutSeconds = 31;

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => client.AdmissionregistrationV1.CreateMutatingWebhookConfigurationAsync(invalid));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        Assert.Contains("webhooks[0].sideEffects: Required value", e.Response.Content, StringComparison.Ordinal);
        Assert.Contains("webhooks[1].timeoutSeconds: Invalid value: 31", e.Response.Content, StringComparison.Ordinal);
    }

    private static async Task<X509Certificate2Collection> PublishedBundleAsync(Kubernetes client)
    {
        var registered = await client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync(Tls.ConfigurationName);
        var bundles = registered.Webhooks.Select(w => Encoding.ASCII.GetString(w.ClientConfig.CaBundle)).Distinct().ToList();
        return OperatorCertificateAuthority.ReadBundle(Assert.Single(bundles));
    }

    /// <summary>Chain and host name checks as a TLS client trusting only <paramref name="bundle"/> makes them at <paramref name="at"/>.</summary>
    internal static bool Verifies(X509Certificate2 leaf, X509Certificate2Collection bundle, DateTimeOffset at, string host)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(bundle);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        return chain.Build(leaf) && leaf.MatchesHostname(host);
    }
}
