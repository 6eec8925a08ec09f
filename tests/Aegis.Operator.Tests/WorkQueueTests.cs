using Aegis.Operator.Controllers;
using Aegis.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace Aegis.Operator.Tests;

public class WorkQueueTests
{
    private static async Task<string> NextAsync(WorkQueue<string> queue)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var (ok, key) = await queue.TryGetAsync(timeout.Token);
        Assert.True(ok);
        return key;
    }

    [Fact]
    public async Task Add_SameKeyTwiceWhileWaiting_IsHandedOutOnce()
    {
        using var queue = new WorkQueue<string>();
        queue.Add("acme");
        queue.Add("acme");
        queue.Add("globex");

        Assert.Equal(2, queue.Count);
        Assert.Equal("acme", await NextAsync(queue));
        Assert.Equal("globex", await NextAsync(queue));
    }

    [Fact]
    public async Task Add_WhileProcessing_IsNotHandedOutUntilDoneThenComesBackOnce()
    {
        using var queue = new WorkQueue<string>();
        queue.Add("acme");
        var key = await NextAsync(queue);

        queue.Add("acme");
        queue.Add("acme");
        Assert.Equal(0, queue.Count);
        using var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queue.TryGetAsync(quick.Token));

        queue.Done(key);
        Assert.Equal(1, queue.Count);
        Assert.Equal("acme", await NextAsync(queue));
    }

    [Fact]
    public async Task ManyWorkers_NeverRunOneKeyTwiceAtOnce()
    {
        using var queue = new WorkQueue<string>();
        var running = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var overlaps = 0;
        var processed = 0;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                (bool ok, string key) next;
                try
                {
                    next = await queue.TryGetAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                if (running.AddOrUpdate(next.key, 1, (_, n) => n + 1) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                await Task.Delay(1);
                running.AddOrUpdate(next.key, 0, (_, n) => n - 1);
                Interlocked.Increment(ref processed);
                queue.Done(next.key);
            }
        })).ToArray();

        for (var i = 0; i < 2_000; i++)
        {
            queue.Add($"tenant-{i % 5}");
            if (i % 50 == 0)
            {
                await Task.Delay(1);
            }
        }

        await Eventually.TrueAsync(() => queue.Count == 0 && running.Values.All(n => n == 0), "every added key processed");
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Assert.Equal(0, overlaps);
        Assert.InRange(processed, 5, 2_000);
    }

    [Fact]
    public void AddRateLimited_BacksOffExponentiallyUntilForgotten()
    {
        using var queue = new WorkQueue<string>(baseDelay: TimeSpan.FromMilliseconds(10), maxDelay: TimeSpan.FromMilliseconds(50));

        var delays = Enumerable.Range(0, 5).Select(_ => queue.AddRateLimited("acme").TotalMilliseconds).ToList();
        queue.Forget("acme");

        Assert.Equal([10, 20, 40, 50, 50], delays);
        Assert.Equal(10, queue.AddRateLimited("acme").TotalMilliseconds);
    }

    [Fact]
    public async Task AddAfter_QueuesTheKeyOnceTheDelayPassedOnTheClock()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue<string>(time);
        queue.AddAfter("acme", TimeSpan.FromMinutes(5));

        time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromTicks(1));
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromTicks(1));

        Assert.Equal(1, queue.Count);
        Assert.Equal("acme", await NextAsync(queue));
    }

    [Fact]
    public async Task DelayedAdds_FiringAfterDispose_AreIgnored()
    {
        // A requeue timer that fires after the queue is gone must not throw on a timer thread (it would crash
        // the process, as it once crashed this test run).
        var time = new FakeTimeProvider();
        var queue = new WorkQueue<string>(time, baseDelay: TimeSpan.FromMilliseconds(20));
        queue.AddAfter("a", TimeSpan.FromMilliseconds(30));
        queue.AddRateLimited("b");
        queue.Dispose();
        time.Advance(TimeSpan.FromSeconds(1));
        queue.Add("c");
        Assert.Equal(0, queue.Count);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task ShutDown_WakesWaitingWorkers()
    {
        using var queue = new WorkQueue<string>();
        var waiting = queue.TryGetAsync(CancellationToken.None);
        queue.ShutDown();
        var (ok, _) = await waiting;
        Assert.False(ok);
    }
}
