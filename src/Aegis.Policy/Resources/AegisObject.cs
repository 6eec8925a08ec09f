using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>Kubernetes object metadata: the subset Aegis reads and writes.</summary>
/// <remarks>Objects read from the API server also carry managedFields, finalizers, ownerReferences and more; they are Kubernetes's, not Aegis's, so they are accepted and ignored.</remarks>
[AcceptUnknownFields]
public sealed class ObjectMetadata
{
    public string Name { get; set; } = "";
    public string? Namespace { get; set; }
    public long? Generation { get; set; }
    public string? Uid { get; set; }
    public string? ResourceVersion { get; set; }
    public string? CreationTimestamp { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>A status condition in the Kubernetes convention (type, status, reason, message, observedGeneration).</summary>
public sealed class ResourceCondition
{
    public string Type { get; set; } = "";
    public string Status { get; set; } = "Unknown";
    public string? Reason { get; set; }
    public string? Message { get; set; }
    public long? ObservedGeneration { get; set; }
    public string? LastTransitionTime { get; set; }
}

/// <summary>An Aegis custom resource: apiVersion, kind, metadata, spec and status.</summary>
public abstract class AegisObject
{
    /// <summary>API group of every Aegis kind.</summary>
    public const string Group = "aegis.dev";

    /// <summary>Served version of every Aegis kind.</summary>
    public const string Version = "v1alpha1";

    /// <summary>The apiVersion every Aegis object carries.</summary>
    public const string ApiVersionValue = Group + "/" + Version;

    public string ApiVersion { get; set; } = ApiVersionValue;
    public string Kind { get; set; } = "";
    public ObjectMetadata Metadata { get; set; } = new();

    /// <summary>The tenant the object compiles into (spec.tenant).</summary>
    [JsonIgnore]
    public abstract string Tenant { get; }

    /// <summary>"namespace/name", the identity used in decisions and errors.</summary>
    [JsonIgnore]
    public string Id => $"{Metadata.Namespace ?? "default"}/{Metadata.Name}";
}

/// <summary>An Aegis custom resource with typed spec and status.</summary>
public abstract class AegisObject<TSpec, TStatus> : AegisObject
    where TSpec : class, new()
    where TStatus : class, new()
{
    public TSpec Spec { get; set; } = new();
    public TStatus? Status { get; set; }
}

/// <summary>Status shared by the compiled kinds: conditions and the bundle they are in.</summary>
public class CompiledObjectStatus
{
    public long? ObservedGeneration { get; set; }
    public List<ResourceCondition>? Conditions { get; set; }
    public string? BundleRevision { get; set; }
}
