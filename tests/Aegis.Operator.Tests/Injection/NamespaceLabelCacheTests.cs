using Aegis.Operator.Caching;
using Aegis.Operator.Injection;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Aegis.Operator.Tests.Injection;

public class NamespaceLabelCacheTests
{
    [Fact]
    public async Task Labels_ChangedAfterSync_ArriveThroughTheWatchWithoutAFailure_AndUnseenNamespacesAreRead()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "agents" } });
        var logger = new WarningRecorder();
        var informer = new ResourceInformer<V1Namespace>(ResourceKinds.Namespaces(client), TimeProvider.System, logger);
        var cache = new NamespaceLabelCache(client, informer);
        using var stop = new CancellationTokenSource();
        var running = informer.RunAsync(stop.Token);
        await informer.Synced;
        api.CutWatches();

        var ns = await client.CoreV1.ReadNamespaceAsync("agents");
        ns.Metadata.Labels = new Dictionary<string, string> { [InjectionLabels.Inject] = "enabled" };
        ns.Metadata.Annotations = new Dictionary<string, string> { [InjectionLabels.ExemptServiceAccounts] = "batch" };
        await client.CoreV1.ReplaceNamespaceAsync(ns, "agents");
        await Eventually.TrueAsync(() => informer.Get(null, "agents")?.Metadata.Labels is { } l && l.TryGetValue(InjectionLabels.Inject, out var v) && v == "enabled", "the label seen by the informer");
        var created = await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "fresh", Labels = new Dictionary<string, string> { ["a"] = "b" } } });

        Assert.Equal("enabled", (await cache.GetAsync("agents", CancellationToken.None))!.Labels[InjectionLabels.Inject]);
        Assert.Equal("batch", (await cache.GetAsync("agents", CancellationToken.None))!.Annotations[InjectionLabels.ExemptServiceAccounts]);
        Assert.Equal("b", (await cache.GetAsync("fresh", CancellationToken.None))!.Labels["a"]);
        Assert.Null(await cache.GetAsync("missing", CancellationToken.None));
        Assert.Empty(logger.Warnings);
        await stop.CancelAsync();
        await running;
    }

    /// <summary>Records warnings: an informer that fails and re-lists logs one each time.</summary>
    private sealed class WarningRecorder : ILogger
    {
        public List<string> Warnings { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                Warnings.Add(formatter(state, exception));
            }
        }
    }
}
