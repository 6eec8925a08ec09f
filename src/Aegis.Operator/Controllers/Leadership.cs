using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;

namespace Aegis.Operator.Controllers;

/// <summary>
/// Leader election over a coordination.k8s.io Lease (KubernetesClient's LeaderElector): one replica leads at a
/// time; a leader that stops gracefully hands the Lease back at once instead of letting others wait it out. What
/// only the leader does is a set of <see cref="IRunnable"/>s started as a whole when this replica starts leading and
/// stopped as a whole when it stops, so no component asks "am I leader?". On shutdown they are stopped (and drained)
/// before the Lease is released, so two leaders never act at once.
/// </summary>
public sealed partial class Leadership(IKubernetes client, string ns, string leaseName, string identity, ILogger<Leadership> logger) : IDisposable
{
    private readonly List<IRunnable> _runnables = [];
    private readonly Lock _lock = new();
    private LeaderElector? _elector;
    private volatile bool _leading;
    private CancellationTokenSource? _leaderWork;
    private Task _running = Task.CompletedTask;

    /// <summary>How long a Lease is valid without renewal (15 s in clusters; shorter in tests).</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Hand the Lease back when stopped (a crashed replica cannot; tests switch it off to play one).</summary>
    public bool ReleaseOnStop { get; init; } = true;
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The clock of the release (the elector itself keeps the Lease on the system clock, as the API server does).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public string Identity => identity;

    public bool IsLeader => _leading;

    /// <summary>How long stopping waits for the leader's runnables to drain before the Lease is released anyway.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Raised when this replica starts leading, before its runnables start.</summary>
    public event Action? StartedLeading;

    /// <summary>Adds work that runs only while this replica leads (before <see cref="RunAsync"/>).</summary>
    public void Add(IRunnable runnable) => _runnables.Add(runnable);

    /// <summary>Campaigns for and holds the Lease until cancelled, then releases it if held.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _elector = new LeaderElector(new LeaderElectionConfig(new LeaseLock(client, ns, leaseName, identity))
        {
            LeaseDuration = LeaseDuration,
            RenewDeadline = RenewDeadline,
            RetryPeriod = RetryPeriod,
        });
        _elector.OnStartedLeading += () =>
        {
            _leading = true;
            LogLeading(logger, identity, leaseName);
            StartedLeading?.Invoke();
            StartLeaderWork(cancellationToken);
        };
        _elector.OnStoppedLeading += () =>
        {
            _leading = false;
            _ = StopLeaderWorkAsync();
        };
        _elector.OnError += e => LogElectionError(logger, leaseName, e.Message);
        try
        {
            await _elector.RunAndTryToHoldLeadershipForeverAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            _leading = false;
            await StopLeaderWorkAsync().ConfigureAwait(false);
            if (ReleaseOnStop)
            {
                // Not cancellable: an abandoned release leaves the others waiting out the whole lease. The
                // release itself checks that this replica still holds the Lease.
                await ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private void StartLeaderWork(CancellationToken stopping)
    {
        lock (_lock)
        {
            if (_leaderWork is not null || stopping.IsCancellationRequested)
            {
                return;
            }

            var work = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            _leaderWork = work;
            var previous = _running;
            _running = Task.WhenAll(_runnables.Select(r => Task.Run(async () =>
            {
                // A replica that lost and regained the lease quickly must not run two copies of a runnable.
                await previous.ConfigureAwait(false);
                await r.RunAsync(work.Token).ConfigureAwait(false);
            }, CancellationToken.None)));
        }
    }

    /// <summary>Stops the leader's runnables and waits (at most <see cref="StopTimeout"/>) for them to drain.</summary>
    private async Task StopLeaderWorkAsync()
    {
        Task running;
        lock (_lock)
        {
            if (_leaderWork is not { } work)
            {
                return;
            }

            _leaderWork = null;
            work.Cancel();
            running = _running;
        }

        try
        {
            await running.WaitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogDrainTimeout(logger, StopTimeout.TotalSeconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogRunnableFailed(logger, e.Message);
        }
    }

    private async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        try
        {
            var lease = await client.CoordinationV1.ReadNamespacedLeaseAsync(leaseName, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (lease.Spec?.HolderIdentity != identity)
            {
                return;
            }

            // Empty, not null: LeaderElector reads a null holder as "no Lease yet" and tries to create one.
            lease.Spec.HolderIdentity = "";
            lease.Spec.LeaseDurationSeconds = 1;
            lease.Spec.RenewTime = Time.GetUtcNow().UtcDateTime.AddSeconds(-1);
            await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, leaseName, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            LogReleased(logger, identity, leaseName);
        }
        catch (k8s.Autorest.HttpOperationException e)
        {
            LogReleaseFailed(logger, leaseName, e.Message);
        }
    }

    public void Dispose() => _elector?.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "the leader's work did not stop within {Seconds} s; releasing the lease anyway")]
    private static partial void LogDrainTimeout(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "a leader runnable failed: {Reason}")]
    private static partial void LogRunnableFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} is leading (lease {Lease})")]
    private static partial void LogLeading(ILogger logger, string identity, string lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "leader election on lease {Lease}: {Reason}")]
    private static partial void LogElectionError(ILogger logger, string lease, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} released lease {Lease}")]
    private static partial void LogReleased(ILogger logger, string identity, string lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "releasing lease {Lease} failed: {Reason}; others take over when it expires")]
    private static partial void LogReleaseFailed(ILogger logger, string lease, string reason);
}
