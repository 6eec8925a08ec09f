using System.Collections.Concurrent;
using Aegis.Policy.Bundles;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;

namespace Aegis.Operator.Tenants;

/// <summary>A status condition the controller wants on an object (written with observedGeneration = its generation).</summary>
public sealed record ConditionUpdate(string Type, bool Status, string Reason, string Message);

/// <summary>The status one object should have once its tenant's bundle is published.</summary>
public sealed record ObjectStatusUpdate(TenantSource Source, ConditionUpdate Accepted, ConditionUpdate Ready, string? BundleRevision);

/// <summary>What compiling a tenant gave: the unsigned bundle content and the status of each of its objects.</summary>
public sealed record TenantBuild(string Tenant, BundleContent Content, IReadOnlyList<ObjectStatusUpdate> Statuses)
{
    public string Revision => Content.Revision;
}

/// <summary>
/// Compiles one tenant's objects as the cache holds them. Each object is validated with the loader's own checks
/// (<see cref="ResourceValidator"/> on the typed object, the same field paths and reasons as <c>aegis validate</c>);
/// an invalid object is reported (Accepted=False) and left out; an invalid TenantRegion makes the bundle deny the
/// tenant rather than lose its residency rules; an object its namespace does not bind to the tenant is never compiled.
/// Deterministic: the same objects give the same revision. Validation is remembered per uid and generation, so one edit
/// in a tenant of hundreds validates one object.
/// </summary>
public sealed class TenantCompiler
{
    private readonly ConcurrentDictionary<string, Dictionary<string, (string Key, string? Errors)>> _validated = new(StringComparer.Ordinal);

    public TenantBuild Compile(string tenant, IReadOnlyList<TenantSource> sources)
    {
        var previous = _validated.GetValueOrDefault(tenant);
        var validated = new Dictionary<string, (string Key, string? Errors)>(sources.Count, StringComparer.Ordinal);
        var valid = new List<TenantSource>();
        var refused = new List<(TenantSource Source, string Reason, string Errors)>();
        var rejected = new List<RejectedObject>();
        foreach (var source in sources)
        {
            if (source.Refusal is { } refusal)
            {
                refused.Add((source, refusal.Reason, refusal.Message));
                continue;
            }

            var errors = previous is not null && previous.TryGetValue(source.Ref, out var known) && known.Key == source.LoadKey ? known.Errors : Validate(source);
            validated[source.Ref] = (source.LoadKey, errors);
            if (errors is null)
            {
                valid.Add(source);
            }
            else
            {
                refused.Add((source, "Invalid", errors));
                rejected.Add(new RejectedObject(source.Resource.Kind, source.Resource.Id, tenant, source.Ref));
            }
        }

        // Replaced whole, so deleted objects leave the memory with their tenant's next compile.
        _validated[tenant] = validated;
        var content = BundleCompiler.Compile(tenant, valid.Select(v => v.Resource), rejected);
        var statuses = new List<ObjectStatusUpdate>(sources.Count);
        foreach (var source in valid)
        {
            statuses.Add(new ObjectStatusUpdate(source,
                new ConditionUpdate("Accepted", true, "Valid", "the object is valid"),
                new ConditionUpdate("Ready", true, "Published", $"in bundle {content.Revision} of tenant {tenant}"),
                content.Revision));
        }

        foreach (var (source, reason, errors) in refused)
        {
            var ready = reason != "Invalid"
                ? $"never compiled: the object is in no bundle, and tenant {tenant}'s bundle is unchanged by it"
                : source.Resource is TenantRegion
                ? $"tenant {tenant} is denied until this TenantRegion is fixed"
                : $"left out of bundle {content.Revision}; the rest of tenant {tenant} is published";
            statuses.Add(new ObjectStatusUpdate(source, new ConditionUpdate("Accepted", false, reason, errors), new ConditionUpdate("Ready", false, "NotInBundle", ready), null));
        }

        return new TenantBuild(tenant, content, statuses);
    }

    /// <summary>The validator's errors as "field: reason; ...", or null when the object is valid.</summary>
    private static string? Validate(TenantSource source)
    {
        if (source.ReadError is { } readError)
        {
            return readError;
        }

        var errors = new List<string>();
        ResourceValidator.Validate(source.Resource, (field, reason) => errors.Add($"{field}: {reason}"));
        return errors.Count == 0 ? null : string.Join("; ", errors);
    }
}
