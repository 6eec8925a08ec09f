namespace Aegis.Operator.Injection;

/// <summary>The labels and annotations that steer injection, and the values they take.</summary>
public static class InjectionLabels
{
    /// <summary>
    /// Namespace label: <c>enabled</c> enforces the sidecar on every pod of the namespace (a pod cannot opt out). Pod
    /// label or annotation <c>true</c> opts a pod in elsewhere; <c>false</c> in an enforced namespace is refused.
    /// </summary>
    public const string Inject = "aegis.dev/inject";

    /// <summary>The value of the namespace label <see cref="Inject"/> that enforces injection.</summary>
    public const string NamespaceEnabled = "enabled";

    /// <summary>Namespace label naming the tenant of its pods, owned by cluster admins; pod labels of that name are ignored.</summary>
    public const string Tenant = "aegis.dev/tenant";

    /// <summary>
    /// Namespace annotation listing service accounts (comma-separated) whose pods an enforced namespace does not inject.
    /// Namespaces are cluster-scoped: only who may patch namespaces (cluster admins) can set it, never a pod's author.
    /// </summary>
    public const string ExemptServiceAccounts = "aegis.dev/exempt-service-accounts";

    /// <summary>Pod label with the agent id; the service account name when absent.</summary>
    public const string AgentId = "aegis.dev/agent-id";

    /// <summary>Pod annotation recording what was injected.</summary>
    public const string Status = "aegis.dev/status";

    /// <summary>Former pod annotation choosing the interception mode; interception is always transparent now, so any other value is refused.</summary>
    public const string Interception = "aegis.dev/interception";

    /// <summary>The only interception mode: iptables redirect plus HTTP_PROXY.</summary>
    public const string TransparentMode = "transparent";

    /// <summary>Namespaces never injected, whatever their labels say.</summary>
    public static readonly IReadOnlySet<string> SystemNamespaces = new HashSet<string>(StringComparer.Ordinal) { "kube-system", "kube-public", "kube-node-lease" };
}
