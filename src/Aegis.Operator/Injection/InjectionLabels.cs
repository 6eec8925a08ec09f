namespace Aegis.Operator.Injection;

/// <summary>The labels and annotations that steer injection, and the values they take.</summary>
public static class InjectionLabels
{
    /// <summary>Namespace label (<c>enabled</c> opts the namespace in); pod label or annotation (<c>true</c>/<c>false</c>) overrides it.</summary>
    public const string Inject = "aegis.dev/inject";

    /// <summary>The value of the namespace label <see cref="Inject"/> that opts a namespace in.</summary>
    public const string NamespaceEnabled = "enabled";

    /// <summary>Namespace label naming the tenant of its pods (a pod label of the same name is used when the namespace has none).</summary>
    public const string Tenant = "aegis.dev/tenant";

    /// <summary>Pod label with the agent id; the service account name when absent.</summary>
    public const string AgentId = "aegis.dev/agent-id";

    /// <summary>Pod annotation recording what was injected; its presence makes a second pass a no-op.</summary>
    public const string Status = "aegis.dev/status";

    /// <summary>Pod annotation choosing <c>proxy</c> (HTTP_PROXY only, the default) or <c>transparent</c> (plus an iptables redirect).</summary>
    public const string Interception = "aegis.dev/interception";

    /// <summary>Namespaces never injected, whatever their labels say.</summary>
    public static readonly IReadOnlySet<string> SystemNamespaces = new HashSet<string>(StringComparer.Ordinal) { "kube-system", "kube-public", "kube-node-lease" };
}
