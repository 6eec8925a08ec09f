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
        var runB = b.RunAsync(stopB.Token);

        await Task.Delay(1000);
        Assert.True(a.IsLeader);
        Assert.False(b.IsLeader);
        Assert.Equal("operator-a", api.Objects("coordination.k8s.io", "leases", "aegis-system").Single()["spec"]!["holderIdentity"]!.ToString());

        // A graceful stop releases the Lease: b takes over well before the 2 s lease would have expired.
        var stopped = DateTime.UtcNow;
        await stopA.CancelAsync();
        await runA;
        await Eventually.TrueAsync(() => b.IsLeader, "b leading after a released", TimeSpan.FromSeconds(2));
        Assert.True(DateTime.UtcNow - stopped < TimeSpan.FromSeconds(2));

        await stopB.CancelAsync();
        await runB;
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


