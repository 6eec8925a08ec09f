using System.Collections.Concurrent;
using Aegis.Operator.Caching;
using Aegis.Operator.Controllers;
using Aegis.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Aegis.Operator.Tests;

/// <summary>The one controller loop, driven by a scripted reconciler on a fake clock: results, errors, exceptions, sync and counts.</summary>
public sealed class ControllerTests : IAsyncDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddYears(56));
    private readonly TaskCompletionSource _listed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly InformerCache _cache;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];

    public ControllerTests()
    {
        // A kind whose first list completes when the test says so: the cache's sync is in the test's hands.
        _cache = new InformerCache(_time, NullLoggerFactory.Instance);
        _cache.Add(new ResourceKind<string>
        {
            Plural = "things",
            List = async ct =>
            {
                await _listed.Task.WaitAsync(ct);
                return new ResourceListing<string>([], "1");
            },
            Watch = (_, _, _, ct) => Never(ct),
            Identity = s => (null, s, "1"),
        });
        _running.Add(_cache.RunAsync(_stop.Token));
    }

    private static async IAsyncEnumerable<(k8s.WatchEventType, ReadObject<string>)> Never([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        yield break;
    }

    private Controller<string> Start(Func<string, int, ReconcileResult> script, ConcurrentQueue<string> calls, params string[] initial)
    {
        var attempts = new ConcurrentDictionary<string, int>();
        var controller = new Controller<string>("test", new Scripted((key, _) =>
        {
            calls.Enqueue(key);
            return script(key, attempts.AddOrUpdate(key, 1, (_, n) => n + 1));
        }), _cache, _time, NullLogger.Instance)
        {
            InitialKeys = () => initial,
            BaseBackoff = TimeSpan.FromSeconds(1),
        };
        _running.Add(controller.RunAsync(_stop.Token));
        return controller;
    }

    [Fact]
    public async Task Run_BeforeTheCacheSynced_ReconcilesNothing()
    {
        var calls = new ConcurrentQueue<string>();
        var controller = Start((_, _) => ReconcileResult.Done, calls, "a");

        Assert.False(controller.Running);
        Assert.Empty(calls);
        _listed.SetResult();

        await Eventually.TrueAsync(() => controller.Counts.Success == 1, "the initial key reconciled once synced");
        Assert.Equal(["a"], calls);
    }

    [Fact]
    public async Task Run_ReconcilerThrows_RetriedWithBackoffOnTheClock()
    {
        var calls = new ConcurrentQueue<string>();
        _listed.SetResult();
        var controller = Start((_, attempt) => attempt < 3 ? throw new InvalidOperationException("boom") : ReconcileResult.Done, calls, "a");
        await Eventually.TrueAsync(() => controller.Counts.Error == 1, "the first failure");

        // Backoff 1 s, then 2 s: nothing happens until the clock gets there.
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Single(calls);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Eventually.TrueAsync(() => controller.Counts.Error == 2, "the retry after 1 s");
        _time.Advance(TimeSpan.FromSeconds(2));

        await Eventually.TrueAsync(() => controller.Counts.Success == 1, "the third attempt succeeded");
        Assert.Equal(3, calls.Count);
    }

    [Fact]
    public async Task Run_TerminalResult_IsNotRetried()
    {
        var calls = new ConcurrentQueue<string>();
        _listed.SetResult();
        var controller = Start((_, _) => ReconcileResult.Terminal("the object is invalid"), calls, "a");

        await Eventually.TrueAsync(() => controller.Counts.Terminal == 1, "the terminal outcome counted");
        _time.Advance(TimeSpan.FromHours(1));
        controller.Enqueue("b");
        await Eventually.TrueAsync(() => controller.Counts.Terminal == 2, "the next key still handled");

        Assert.Equal(["a", "b"], calls);
    }

    [Fact]
    public async Task Run_RequeueAfter_ReconcilesAgainWhenTheDelayHasPassed()
    {
        var calls = new ConcurrentQueue<string>();
        _listed.SetResult();
        var controller = Start((_, attempt) => attempt == 1 ? ReconcileResult.After(TimeSpan.FromMinutes(5)) : ReconcileResult.Done, calls, "a");
        await Eventually.TrueAsync(() => controller.Counts.Requeue == 1, "asked to look again");

        _time.Advance(TimeSpan.FromMinutes(5));

        await Eventually.TrueAsync(() => controller.Counts.Success == 1, "looked at again after 5 minutes");
        Assert.Equal(["a", "a"], calls);
    }

    [Fact]
    public async Task Run_ManyKeysOnManyWorkers_CountsEveryOutcome()
    {
        var calls = new ConcurrentQueue<string>();
        _listed.SetResult();
        var keys = Enumerable.Range(0, 500).Select(i => $"k{i}").ToArray();
        var controller = Start((key, _) => key.EndsWith('7') ? ReconcileResult.Terminal("seven") : ReconcileResult.Done, calls, keys);

        await Eventually.TrueAsync(() => controller.Counts.Total == 500, "every key reconciled");

        Assert.Equal(50, controller.Counts.Terminal);
        Assert.Equal(450, controller.Counts.Success);
        Assert.Equal(500, calls.Distinct().Count());
    }

    public async ValueTask DisposeAsync()
    {
        _listed.TrySetResult();
        await _stop.CancelAsync();
        await Task.WhenAll(_running);
        _stop.Dispose();
    }

    private sealed class Scripted(Func<string, CancellationToken, ReconcileResult> reconcile) : IReconciler<string>
    {
        public Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken) => Task.FromResult(reconcile(key, cancellationToken));
    }
}
