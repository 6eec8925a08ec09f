using System.Collections.Immutable;
using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Signing;

namespace Aegis.Decision.Bundles;

/// <summary>One tenant's active bundle, compiled for evaluation.</summary>
public sealed record ActiveBundle(string Tenant, string Revision, PolicySet Policies, DateTimeOffset LoadedAt, string KeyId)
{
    /// <summary>The bundle's sequence: a later bundle must not be below it.</summary>
    public long Sequence { get; init; }
}

/// <summary>The outcome of offering a bundle to the store.</summary>
public sealed record BundleOffer(bool Accepted, bool Changed, string? Reason, string? Message);

/// <summary>
/// The active bundle of every tenant, as one immutable snapshot swapped atomically: a decision reads one
/// consistent set, and a bundle that fails verification or compilation never replaces the last good one. Nor does
/// an older bundle (<c>bundle_rollback</c>): a validly signed bundle whose sequence is below the one held, one that
/// reuses the held sequence for other content, or an unsequenced one once a sequenced bundle is held.
/// </summary>
public sealed partial class BundleStore(Func<JsonWebKeySet> keys, TimeProvider time, ILogger<BundleStore> logger)
{
    private ImmutableDictionary<string, ActiveBundle> _bundles = ImmutableDictionary.Create<string, ActiveBundle>(StringComparer.Ordinal);
    private ImmutableDictionary<string, long> _refusals = ImmutableDictionary.Create<string, long>(StringComparer.Ordinal);

    /// <summary>Raised after a tenant's bundle changed.</summary>
    public event Action<ActiveBundle>? Swapped;

    /// <summary>The current snapshot.</summary>
    public ImmutableDictionary<string, ActiveBundle> Bundles => Volatile.Read(ref _bundles);

    /// <summary>Refused bundles by reason, since start.</summary>
    public ImmutableDictionary<string, long> Refusals => Volatile.Read(ref _refusals);

    public ActiveBundle? Get(string tenant) => Bundles.GetValueOrDefault(tenant);

    /// <summary>Verifies <paramref name="archive"/> as <paramref name="tenant"/>'s bundle and swaps it in when valid and new.</summary>
    public BundleOffer Offer(string tenant, byte[] archive, string source)
    {
        var verification = new BundleVerifier(keys()).Verify(archive, tenant);
        if (!verification.IsValid)
        {
            return Refuse(tenant, source, verification.Reason!, verification.Message!);
        }

        var bundle = verification.Bundle!;
        var current = Get(tenant);
        if (current is not null && current.Revision == bundle.Revision)
        {
            return new BundleOffer(true, false, null, null);
        }

        if (current is not null && (bundle.Sequence < current.Sequence || (bundle.Sequence == current.Sequence && current.Sequence != 0)))
        {
            return Refuse(tenant, source, BundleRejection.Rollback,
                $"sequence {bundle.Sequence} (revision {bundle.Revision}) is not after the held sequence {current.Sequence} (revision {current.Revision})");
        }

        PolicySet policies;
        try
        {
            policies = PolicySet.Load(bundle.Data, bundle.Revision);
        }
        catch (PolicySetException e)
        {
            return Refuse(tenant, source, "bundle_uncompilable", e.Message);
        }

        var active = new ActiveBundle(tenant, bundle.Revision, policies, time.GetUtcNow(), bundle.KeyId) { Sequence = bundle.Sequence };
        ImmutableInterlocked.AddOrUpdate(ref _bundles, tenant, active, (_, _) => active);
        LogSwapped(logger, tenant, bundle.Revision, source);
        Swapped?.Invoke(active);
        return new BundleOffer(true, true, null, null);
    }

    /// <summary>Records a bundle refused before it could be read whole (over the size limit); the held one stays.</summary>
    public BundleOffer RefuseTooLarge(string tenant, string source, string message) => Refuse(tenant, source, BundleRejection.TooLarge, message);

    /// <summary>True when every tenant in <paramref name="tenants"/> has a bundle.</summary>
    public bool HasAll(IEnumerable<string> tenants)
    {
        var snapshot = Bundles;
        return tenants.All(snapshot.ContainsKey);
    }

    private BundleOffer Refuse(string tenant, string source, string reason, string message)
    {
        ImmutableInterlocked.AddOrUpdate(ref _refusals, reason, 1, (_, n) => n + 1);
        LogRefused(logger, tenant, source, reason, message, Get(tenant)?.Revision ?? "none");
        return new BundleOffer(false, false, reason, message);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "bundle for tenant {Tenant} is now revision {Revision} (from {Source})")]
    private static partial void LogSwapped(ILogger logger, string tenant, string revision, string source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "refused bundle for tenant {Tenant} from {Source}: {Reason}: {Detail}; keeping revision {Kept}")]
    private static partial void LogRefused(ILogger logger, string tenant, string source, string reason, string detail, string kept);
}
