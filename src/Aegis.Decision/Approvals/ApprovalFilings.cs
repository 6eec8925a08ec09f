using System.Collections.Concurrent;
using Aegis.Contracts.State;

namespace Aegis.Decision.Approvals;

/// <summary>
/// Files approvals without holding a decision longer than the sidecar waits: a filing runs in the background, the
/// decision waits for it at most <c>wait</c>, and the outcome is remembered by approval key, so the agent's retries
/// (which are the protocol) learn the ApprovalRequest's name without filing again. One filing per key at a time.
/// </summary>
public sealed class ApprovalFilings(IApprovalFiler filer, TimeSpan wait, TimeProvider time)
{
    /// <summary>How long a filing's outcome is remembered; a failed one is retried sooner.</summary>
    public static readonly TimeSpan Remember = TimeSpan.FromMinutes(5);

    /// <summary>Most keys remembered; past it, the oldest outcomes are forgotten (they are filed again if asked).</summary>
    public const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, (Task<ApprovalFiling> Filing, DateTimeOffset At)> _filings = new(StringComparer.Ordinal);

    public async Task<ApprovalFiling> FileAsync(ApprovalCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var now = time.GetUtcNow();
        var key = call.Key.Hash;
        if (_filings.TryGetValue(key, out var known) && (now - known.At > Remember || (known.Filing.IsCompleted && known.Filing.Result.Name is null && now - known.At > TimeSpan.FromSeconds(5))))
        {
            _filings.TryRemove(KeyValuePair.Create(key, known));
        }

        if (_filings.Count >= MaxEntries)
        {
            foreach (var stale in _filings.Where(f => f.Value.Filing.IsCompleted).OrderBy(f => f.Value.At).Take(MaxEntries / 10).ToList())
            {
                _filings.TryRemove(stale);
            }
        }

        // The filing outlives this decision: it must not be cancelled with it.
        var entry = _filings.GetOrAdd(key, _ => (Task.Run(() => filer.FileAsync(call, CancellationToken.None), CancellationToken.None), now));
        var finished = await Task.WhenAny(entry.Filing, Task.Delay(wait, time, cancellationToken)).ConfigureAwait(false);
        return finished == entry.Filing
            ? await entry.Filing.ConfigureAwait(false)
            : new ApprovalFiling(null, "the ApprovalRequest is being filed; retry the same call to learn its name");
    }

    /// <summary>Forgets what was filed for <paramref name="key"/> (it was decided: the next such call files anew).</summary>
    public void Forget(ApprovalKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        _filings.TryRemove(key.Hash, out _);
    }
}
