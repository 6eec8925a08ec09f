using Aegis.Policy.Resources;
using k8s.Models;

namespace Aegis.Operator.Tenants;

/// <summary>Why an object is not compiled into the bundle its <c>spec.tenant</c> names.</summary>
public sealed record TenantRefusal(string Reason, string Message);

/// <summary>
/// Tenancy (DESIGN.md "Custom resources"): a namespace belongs to a tenant through its label <c>aegis.dev/tenant</c>,
/// which cluster admins own; an object compiles into its <c>spec.tenant</c>'s bundle only when that is its namespace's
/// tenant. Anyone who may create an AgentPolicy somewhere can therefore add rules only to the tenant that namespace
/// belongs to, never to another.
/// </summary>
public static class TenantBinding
{
    /// <summary>The namespace label naming its tenant.</summary>
    public const string Label = "aegis.dev/tenant";

    /// <summary>Condition reason: the object's namespace has no tenant label (or does not exist).</summary>
    public const string NotBound = "TenantNotBound";

    /// <summary>Condition reason: the object names a tenant other than its namespace's.</summary>
    public const string Mismatch = "TenantMismatch";

    /// <summary>The tenant a namespace belongs to, or null.</summary>
    public static string? TenantOf(V1Namespace? ns) =>
        ns?.Metadata.Labels is { } labels && labels.TryGetValue(Label, out var tenant) && tenant.Length > 0 ? tenant : null;

    /// <summary>Null when <paramref name="obj"/> may compile into its tenant's bundle; otherwise why not.</summary>
    public static TenantRefusal? Check(AegisObject obj, V1Namespace? ns)
    {
        var name = obj.Metadata.Namespace ?? "default";
        return TenantOf(ns) switch
        {
            null when ns is null => new TenantRefusal(NotBound, $"namespace {name} is not known to the operator; only namespaces labelled {Label} hold a tenant's objects"),
            null => new TenantRefusal(NotBound, $"namespace {name} has no {Label} label, so it belongs to no tenant; a cluster admin labels it"),
            var tenant when tenant != obj.Tenant => new TenantRefusal(Mismatch, $"spec.tenant is \"{obj.Tenant}\" but namespace {name} belongs to tenant \"{tenant}\""),
            _ => null,
        };
    }
}
