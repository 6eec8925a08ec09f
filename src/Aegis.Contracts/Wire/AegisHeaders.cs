namespace Aegis.Contracts.Wire;

/// <summary>HTTP header names Aegis reads and writes on the request path. Every one starts with <see cref="Prefix"/>.</summary>
public static class AegisHeaders
{
    /// <summary>What every Aegis header starts with; the sidecar removes all of them before a request leaves the pod.</summary>
    public const string Prefix = "x-aegis-";

    /// <summary>The agent's token, when the upstream needs the authorization header for itself.</summary>
    public const string Token = "x-aegis-token";

    /// <summary>A one-time override token minted when a person approved this exact call.</summary>
    public const string Override = "x-aegis-override";

    /// <summary>A cost estimate in USD; it may only raise a reservation, never lower it.</summary>
    public const string CostEstimate = "x-aegis-cost-estimate";

    /// <summary>The decision's id, on allowed and refused calls.</summary>
    public const string DecisionId = "x-aegis-decision-id";

    /// <summary>The bundle revision that decided an allowed call.</summary>
    public const string BundleRevision = "x-aegis-bundle-revision";

    /// <summary>The ApprovalRequest an approval_needed call was filed as.</summary>
    public const string Approval = "x-aegis-approval";

    /// <summary>The policy/rule that asked for approval.</summary>
    public const string ApprovalRule = "x-aegis-approval-rule";

    /// <summary>
    /// Set to <c>true</c> by the decision server on an OK ext_authz answer for a request to a TLS ToolServer (and removed
    /// otherwise): the sidecar then originates TLS upstream. It never leaves the pod (docs/sidecar.md).
    /// </summary>
    public const string UpstreamTls = "x-aegis-upstream-tls";
}

/// <summary>Names shared by the decision server and the Envoy configuration the operator generates.</summary>
public static class EnvoyContract
{
    /// <summary>The dynamic metadata namespace Envoy's ext_authz filter stores an OK response's metadata under.</summary>
    public const string ExtAuthzMetadataNamespace = "envoy.filters.http.ext_authz";

    /// <summary>gRPC metadata (the ext_proc grpc_service's initial_metadata) naming the sidecar's tenant, like ext_authz's context extension.</summary>
    public const string TenantMetadata = "x-aegis-tenant";

    /// <summary>gRPC metadata naming the sidecar's agent, like ext_authz's agent_id context extension.</summary>
    public const string AgentMetadata = "x-aegis-agent-id";

    /// <summary>The ext_authz context extension naming the sidecar's tenant.</summary>
    public const string TenantExtension = "tenant";

    /// <summary>The ext_authz context extension naming the sidecar's agent.</summary>
    public const string AgentExtension = "agent_id";
}
