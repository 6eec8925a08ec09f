namespace Aegis.Decision.Hosting;

/// <summary>
/// The decision server's drain: from <see cref="Begin"/> on, readiness is false and new calls are refused, while the
/// calls already admitted are counted down so shutdown can wait for them (up to its deadline) before the listeners close.
/// </summary>
public sealed class ShutdownGate
{
    /// <summary>The reason a call that arrives during the drain is refused with.</summary>
    public const string ShuttingDown = "shutting_down";

    private readonly TaskCompletionSource idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int inFlight;
    private volatile bool draining;

    /// <summary>True once shutdown has begun.</summary>
    public bool Draining => draining;

    /// <summary>Calls admitted and not yet finished.</summary>
    public int InFlight => Volatile.Read(ref inFlight);

    /// <summary>Stops admitting calls; the idle task completes when the last admitted call finishes.</summary>
    public void Begin()
    {
        draining = true;
        if (Volatile.Read(ref inFlight) == 0)
        {
            idle.TrySetResult();
        }
    }

    /// <summary>Admits a call unless the drain has begun; every admitted call must be followed by <see cref="Exit"/>.</summary>
    public bool TryEnter()
    {
        Interlocked.Increment(ref inFlight);

        // Checked after counting, so Begin either sees this call or this call sees Begin: none slips past the wait.
        if (draining)
        {
            Exit();
            return false;
        }

        return true;
    }

    /// <summary>Marks an admitted call finished.</summary>
    public void Exit()
    {
        if (Interlocked.Decrement(ref inFlight) == 0 && draining)
        {
            idle.TrySetResult();
        }
    }

    /// <summary>Completes when the drain has begun and no admitted call is left, or when <paramref name="cancellationToken"/> fires.</summary>
    public async Task<bool> WaitIdleAsync(CancellationToken cancellationToken)
    {
        try
        {
            await idle.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
