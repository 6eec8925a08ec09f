using Aegis.Operator.Controllers;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests;

public class LeadershipTests
{
    private static Leadership Replica(Kubernetes client, string identity, bool releaseOnStop = true) =>
        new(client, "aegis-system", "aegis-operator", identity, NullLogger<Leadership>.Instance)
        {
            ReleaseOnStop = releaseOnStop,
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        };


    [Fact]
    public async Task OneLeadsAtATime_GracefulStopHandsOverAtOnce()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        using var a = Replica(client, "operator-a");
        using var b = Replica(client, "operator-b");
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAsync(stopA.Token);
        await Eventually.TrueAsync(() => a.IsLeader, "a leading", TimeSpan.FromSeconds(5));
        var reads = api.Calls("get", "leases");
        var runB = b.RunAsync(stopB.Token);

        // b has read the Lease (and found a holding it) a few times: it tried, and did not take it.
        await Eventually.TrueAsync(() => api.Calls("get", "leases") >= reads + 3, "b tried to acquire");
        Assert.True(a.IsLeader);
        Assert.False(b.IsLeader);
        Assert.Equal("operator-a", api.Objects("coordination.k8s.io", "leases", "aegis-system").Single()["spec"]!["holderIdentity"]!.ToString());

        // A graceful stop releases the Lease (holder emptied): b takes it on its next try.
        await stopA.CancelAsync();
        await runA;
        Assert.Equal("", api.Objects("coordination.k8s.io", "leases", "aegis-system").Single()["spec"]!["holderIdentity"]!.ToString());
        await Eventually.TrueAsync(() => b.IsLeader, "b leading after a released");

        await stopB.CancelAsync();
        await runB;
    }

    [Fact]
    public async Task Runnables_RunOnlyWhileLeading_AndStopBeforeTheLeaseIsReleased()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        using var a = Replica(client, "operator-a");
        var work = new RecordingRunnable(() => api.Objects("coordination.k8s.io", "leases", "aegis-system").Single()["spec"]!["holderIdentity"]!.ToString());
        a.Add(work);
        using var stop = new CancellationTokenSource();

        Assert.False(work.Started.Task.IsCompleted);
        var run = a.RunAsync(stop.Token);
        await work.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(a.IsLeader);

        await stop.CancelAsync();
        await run;

        // The runnable saw its cancellation while this replica still held the Lease: two leaders never act at once.
        Assert.Equal("operator-a", work.HolderWhenStopped);
        Assert.Equal("", api.Objects("coordination.k8s.io", "leases", "aegis-system").Single()["spec"]!["holderIdentity"]!.ToString());
    }

    private sealed class RecordingRunnable(Func<string> holder) : IRunnable
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string? HolderWhenStopped { get; private set; }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            Started.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            HolderWhenStopped = holder();
        }
    }

    [Fact]
    public async Task LeaderThatDisappears_IsReplacedWithinTheLeaseDuration()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        using var a = Replica(client, "operator-a", releaseOnStop: false);
        using var b = Replica(client, "operator-b");
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAsync(stopA.Token);
        await Eventually.TrueAsync(() => a.IsLeader, "a leading", TimeSpan.FromSeconds(5));
        var runB = b.RunAsync(stopB.Token);

        // a stops renewing without releasing (a crashed pod): b waits out the lease, then leads.
        await stopA.CancelAsync();
        await runA;
        Assert.False(b.IsLeader);
        await Eventually.TrueAsync(() => b.IsLeader, "b leading after a's lease expired", TimeSpan.FromSeconds(2 + 2));

        await stopB.CancelAsync();
        await runB;
    }
}


