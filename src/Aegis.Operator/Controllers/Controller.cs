using System.Diagnostics.Metrics;
using Aegis.Operator.Caching;

namespace Aegis.Operator.Controllers;

/// <summary>What a reconcile asks of the loop: nothing, a look again after a delay, or (terminal) no retry.</summary>
public readonly record struct ReconcileResult
{
    /// <summary>Look at the key again after this long (polling for a deadline); null for not until it changes.</summary>
    public TimeSpan? RequeueAfter { get; init; }

    /// <summary>Set when retrying cannot help (an invalid object, recorded in its status); the key is not retried.</summary>
    public string? TerminalReason { get; init; }

    public static ReconcileResult Done => default;

    public static ReconcileResult After(TimeSpan delay) => new() { RequeueAfter = delay };

    public static ReconcileResult Terminal(string reason) => new() { TerminalReason = reason };
}

/// <summary>Reconciles one key (controller-runtime's <c>Reconciler</c>): level-based, reading the cache, never the event.</summary>
public interface IReconciler<in TKey>
{
    /// <summary>Brings the world in line with the cache for <paramref name="key"/>; an exception means "retry with backoff".</summary>
    Task<ReconcileResult> ReconcileAsync(TKey key, CancellationToken cancellationToken);
}

/// <summary>A long-running part of the operator, started and stopped as a whole (controller-runtime's <c>Runnable</c>).</summary>
public interface IRunnable
{
    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>The names of a reconcile's outcomes, used as metric labels.</summary>
public static class ReconcileOutcomes
{
    public const string Success = "success";
    public const string Requeue = "requeue_after";
    public const string Error = "error";
    public const string Terminal = "terminal";
}

/// <summary>Counts of a controller's reconciles by outcome, safe to read and bump from any worker.</summary>
public sealed class ReconcileCounts
{
    private long _success, _requeue, _error, _terminal;

    public long Success => Interlocked.Read(ref _success);
    public long Requeue => Interlocked.Read(ref _requeue);
    public long Error => Interlocked.Read(ref _error);
    public long Terminal => Interlocked.Read(ref _terminal);

    /// <summary>Every reconcile that finished, whatever its outcome.</summary>
    public long Total => Success + Requeue + Error + Terminal;

    internal void Count(string outcome)
    {
        _ = outcome switch
        {
            ReconcileOutcomes.Success => Interlocked.Increment(ref _success),
            ReconcileOutcomes.Requeue => Interlocked.Increment(ref _requeue),
            ReconcileOutcomes.Error => Interlocked.Increment(ref _error),
            _ => Interlocked.Increment(ref _terminal),
        };
    }
}

/// <summary>
/// The one controller loop (controller-runtime's <c>internal/controller</c>): a work queue, workers that start only
/// once the cache has synced, the same key never reconciled twice at once, errors and exceptions retried with
/// per-key exponential backoff, terminal results not retried, "requeue after" for polling, and a count of every
/// outcome (also exported as <c>aegis_operator_reconciles_total{controller,outcome}</c>). Each run gets a fresh queue:
/// a controller that runs only while leading drops nothing it needs, since it enqueues every key when it starts.
/// </summary>
public sealed partial class Controller<TKey> : IRunnable
    where TKey : notnull
{
    private static readonly Meter Meter = new("Aegis.Operator");
    private static readonly Counter<long> Reconciles = Meter.CreateCounter<long>("aegis_operator_reconciles_total", description: "Reconciles by controller and outcome");

    private readonly IReconciler<TKey> _reconciler;
    private readonly InformerCache _cache;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile WorkQueue<TKey>? _queue;

    public Controller(string name, IReconciler<TKey> reconciler, InformerCache cache, TimeProvider time, ILogger logger)
    {
        Name = name;
        _reconciler = reconciler;
        _cache = cache;
        _time = time;
        _logger = logger;
    }

    public string Name { get; }

    public int Workers { get; init; } = 2;

    /// <summary>The keys to reconcile when a run starts (every object of the watched kinds, as controller-runtime's sources replay).</summary>
    public Func<IEnumerable<TKey>> InitialKeys { get; init; } = () => [];

    /// <summary>Backoff of a failing key: base × 2^failures, capped.</summary>
    public TimeSpan BaseBackoff { get; init; } = TimeSpan.FromMilliseconds(5);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(5);

    public ReconcileCounts Counts { get; } = new();

    /// <summary>True while the workers run.</summary>
    public bool Running => _queue is not null;

    /// <summary>Queues <paramref name="key"/> (ignored while the controller is not running: its next run starts from every key).</summary>
    public void Enqueue(TKey key) => _queue?.Add(key);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _cache.WaitForSyncAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }

        using var queue = new WorkQueue<TKey>(_time, BaseBackoff, MaxBackoff);
        _queue = queue;
        foreach (var key in InitialKeys())
        {
            queue.Add(key);
        }

        // On stop the queue hands out no more keys; reconciles in flight finish (they see the token).
        using var registration = cancellationToken.Register(queue.ShutDown);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(() => WorkAsync(queue, cancellationToken), CancellationToken.None))).ConfigureAwait(false);
        }
        finally
        {
            _queue = null;
        }
    }

    private async Task WorkAsync(WorkQueue<TKey> queue, CancellationToken cancellationToken)
    {
        while (true)
        {
            (bool Ok, TKey Key) next;
            try
            {
                next = await queue.TryGetAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            if (!next.Ok)
            {
                return;
            }

            var key = next.Key;
            string outcome;
            try
            {
                var result = await _reconciler.ReconcileAsync(key, cancellationToken).ConfigureAwait(false);
                queue.Forget(key);
                if (result.TerminalReason is { } reason)
                {
                    outcome = ReconcileOutcomes.Terminal;
                    LogTerminal(_logger, Name, key.ToString() ?? "", reason);
                }
                else if (result.RequeueAfter is { } after)
                {
                    outcome = ReconcileOutcomes.Requeue;
                    queue.AddAfter(key, after);
                }
                else
                {
                    outcome = ReconcileOutcomes.Success;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: the key is looked at again by whoever runs next.
                queue.Done(key);
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // An exception is a bug or a failure outside us (a "panic" in controller-runtime's words): never
                // fatal to the loop, retried with backoff like an error.
                outcome = ReconcileOutcomes.Error;
                var delay = queue.AddRateLimited(key);
                LogRetry(_logger, Name, key.ToString() ?? "", e.GetType().Name, e.Message, delay.TotalMilliseconds);
            }

            Counts.Count(outcome);
            Reconciles.Add(1, new KeyValuePair<string, object?>("controller", Name), new KeyValuePair<string, object?>("outcome", outcome));
            queue.Done(key);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Controller}: reconciling {Key} failed ({Type}: {Reason}); retrying in {DelayMs} ms")]
    private static partial void LogRetry(ILogger logger, string controller, string key, string type, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Controller}: {Key} cannot be reconciled until it changes: {Reason}")]
    private static partial void LogTerminal(ILogger logger, string controller, string key, string reason);
}
