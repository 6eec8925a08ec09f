using Aegis.Operator.Caching;
using Aegis.Operator.Hosting;
using Aegis.Operator.Publishing;
using Aegis.Operator.Tenants;
using Aegis.Policy.Bundles;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Aegis.Operator.Tests;

/// <summary>
/// The whole operator host (cache, controllers, leadership, HTTP on a free port) against a test or real API server,
/// with short lease timings, and the namespace helpers tenancy needs.
/// </summary>
public sealed class OperatorUnderTest : IAsyncDisposable
{
    private readonly Aegis.Operator.Keys.OperatorSigningKeys _keys;

    private OperatorUnderTest(WebApplication app, Kubernetes client, Aegis.Operator.Keys.OperatorSigningKeys keys)
    {
        App = app;
        Client = client;
        _keys = keys;
    }

    public WebApplication App { get; }

    public Kubernetes Client { get; }

    public BundleCatalog Catalog => App.Services.GetRequiredService<BundleCatalog>();

    public TenantControllers Tenants => App.Services.GetRequiredService<TenantControllers>();

    public InformerCache Cache => App.Services.GetRequiredService<InformerCache>();

    public int HttpPort => LoopbackPorts.BoundPort(App);

    /// <summary>The operator's keys in tests: the shared bundle and token keys (<see cref="TestKeys"/>).</summary>
    public static Aegis.Operator.Keys.OperatorSigningKeys TestSigningKeys => new(TestKeys.Signer, TestKeys.TokenSigner);

    public static async Task<OperatorUnderTest> StartAsync(Kubernetes client, Aegis.Operator.Keys.OperatorSigningKeys? keys = null, string ns = "aegis-system", string identity = "operator-0",
        Func<OperatorOptions, OperatorOptions>? configure = null)
    {
        var options = new OperatorOptions
        {
            Client = client,
            Namespace = ns,
            Keys = keys ?? TestSigningKeys,
            Identity = identity,
            HttpPort = 0,
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        };
        options = configure is null ? options : configure(options);
        var app = OperatorHost.Build(options);
        await app.StartAsync();
        var started = new OperatorUnderTest(app, client, options.Keys);
        await Eventually.TrueAsync(() => started.Cache.HasSynced, "the operator's cache synced", TimeSpan.FromSeconds(30));
        return started;
    }

    /// <summary>Creates a namespace that belongs to <paramref name="tenant"/> (or to none, when null).</summary>
    public static Task CreateNamespaceAsync(Kubernetes client, string name, string? tenant) =>
        client.CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = tenant is null ? null : new Dictionary<string, string> { [TenantBinding.Label] = tenant } },
        });

    /// <summary>The tenant's served bundle, verified, or null when there is none.</summary>
    public VerifiedBundle? Bundle(string tenant)
    {
        if (!Catalog.TryGet(tenant, out _, out var archive))
        {
            return null;
        }

        var verified = new BundleVerifier(_keys.PublishedKeys).Verify(archive, tenant);
        Assert.True(verified.IsValid, verified.Message);
        return verified.Bundle;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
