using System.Collections.Concurrent;
using Aegis.Operator.Controllers;
using Aegis.Operator.Publishing;
using Aegis.Policy.Bundles;
using Aegis.Policy.Resources;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Tenants;

/// <summary>
/// Reconcile(tenant), on every replica, leader or not: compile the tenant's objects as the cache holds them; once the
/// leader has given that revision a sequence (<see cref="BundleSequences"/>), sign it with that sequence and serve it
/// from this replica's catalog. Signing is deterministic, so every replica serves the same bytes, and a replica that
/// starts leading already holds every tenant's build.
/// </summary>
public sealed partial class BundleReconciler(TenantSources sources, TenantCompiler compiler, BundleSequences sequences, ISigner signer, IBundlePublisher catalog,
    ILogger<BundleReconciler> logger) : IReconciler<string>
{
    private readonly ConcurrentDictionary<string, TenantBuild> _builds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _served = new(StringComparer.Ordinal);

    /// <summary>Raised after each reconcile of a tenant, whether anything changed or not.</summary>
    public event Action<string>? Built;

    /// <summary>The latest build of <paramref name="tenant"/>, if any.</summary>
    public TenantBuild? BuildOf(string tenant) => _builds.GetValueOrDefault(tenant);

    /// <summary>The tenants built so far.</summary>
    public IReadOnlyList<string> Tenants => [.. _builds.Keys];

    /// <summary>The sequence of the bundle this replica serves for <paramref name="tenant"/> (0 for none).</summary>
    public long ServedSequence(string tenant) => _served.GetValueOrDefault(tenant);

    public async Task<ReconcileResult> ReconcileAsync(string tenant, CancellationToken cancellationToken)
    {
        // Level-based: the cache as it is now, whatever event woke us.
        var build = compiler.Compile(tenant, sources.Read(tenant));
        _builds[tenant] = build;
        if (IsPublishable(tenant) && sequences.Get(tenant) is { } sequence && sequence.Revision == build.Revision
            && (ServedSequence(tenant) != sequence.Sequence || await catalog.CurrentRevisionAsync(tenant, cancellationToken).ConfigureAwait(false) != build.Revision))
        {
            var archive = await BundleArchive.SignAndPackAsync(build.Content.WithSequence(sequence.Sequence), signer, cancellationToken).ConfigureAwait(false);
            await catalog.PublishAsync(tenant, build.Revision, archive, cancellationToken).ConfigureAwait(false);
            _served[tenant] = sequence.Sequence;
            LogPublished(logger, tenant, build.Revision, sequence.Sequence);
        }

        Built?.Invoke(tenant);
        return ReconcileResult.Done;
    }

    /// <summary>Objects without a usable tenant are only reported: there is no tenant to publish a bundle for.</summary>
    public static bool IsPublishable(string tenant) => System.Text.RegularExpressions.Regex.IsMatch(tenant, ResourcePatterns.DnsLabel);

    [LoggerMessage(Level = LogLevel.Information, Message = "serving bundle {Revision} (sequence {Sequence}) for tenant {Tenant}")]
    private static partial void LogPublished(ILogger logger, string tenant, string revision, long sequence);
}
