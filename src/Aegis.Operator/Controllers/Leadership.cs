using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;

namespace Aegis.Operator.Controllers;

/// <summary>
/// Leader election over a coordination.k8s.io Lease (KubernetesClient's LeaderElector): one replica leads at a
/// time; a leader that stops gracefully hands the Lease back at once instead of letting others wait it out.
/// </summary>
public sealed partial class Leadership(IKubernetes client, string ns, string leaseName, string identity, ILogger<Leadership> logger) : IDisposable
{
    private LeaderElector? _elector;
    private volatile bool _leading;

    /// <summary>How long a Lease is valid without renewal (15 s in clusters; shorter in tests).</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Hand the Lease back when stopped (a crashed replica cannot; tests switch it off to play one).</summary>
    public bool ReleaseOnStop { get; init; } = true;
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    public string Identity => identity;

    public bool IsLeader => _leading;

    /// <summary>Raised when this replica starts leading.</summary>
    public event Action? StartedLeading;

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
        };
        _elector.OnStoppedLeading += () => _leading = false;
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
            if (ReleaseOnStop)
            {
                // Not cancellable: an abandoned release leaves the others waiting out the whole lease. The
                // release itself checks that this replica still holds the Lease.
                await ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            }
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
            lease.Spec.RenewTime = DateTime.UtcNow.AddSeconds(-1);
            await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, leaseName, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            LogReleased(logger, identity, leaseName);
        }
        catch (k8s.Autorest.HttpOperationException e)
        {
            LogReleaseFailed(logger, leaseName, e.Message);
        }
    }

    public void Dispose() => _elector?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} is leading (lease {Lease})")]
    private static partial void LogLeading(ILogger logger, string identity, string lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "leader election on lease {Lease}: {Reason}")]
    private static partial void LogElectionError(ILogger logger, string lease, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} released lease {Lease}")]
    private static partial void LogReleased(ILogger logger, string identity, string lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "releasing lease {Lease} failed: {Reason}; others take over when it expires")]
    private static partial void LogReleaseFailed(ILogger logger, string lease, string reason);
}
