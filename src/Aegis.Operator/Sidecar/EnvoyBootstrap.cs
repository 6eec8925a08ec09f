using System.Globalization;
using System.Text.Json.Nodes;
using Aegis.Contracts.Wire;

namespace Aegis.Operator.Sidecar;

/// <summary>Who a sidecar speaks for: its tenant and agent id reach the decision server as ext_authz context extensions.</summary>
public sealed record SidecarIdentity(string Tenant, string AgentId);

/// <summary>
/// Generates the Envoy v3 bootstrap of one pod's sidecar: an explicit HTTP proxy on 127.0.0.1 (the dynamic forward
/// proxy for plain HTTP, CONNECT tunnelling for HTTPS), ext_authz to the decision server failing closed with the
/// pod's identity as context extensions, ext_proc for sanitize decisions, and the admin interface on 127.0.0.1.
/// </summary>
public static class EnvoyBootstrap
{
    public const string ListenerName = "aegis_egress";
    public const string DecisionCluster = "aegis_decision";
    public const string ForwardProxyCluster = "aegis_forward_proxy";

    private const string ExtAuthzFilter = "envoy.filters.http.ext_authz";
    private const string ExtProcFilter = "envoy.filters.http.ext_proc";
    private const string TypePrefix = "type.googleapis.com/envoy.extensions.";

    /// <summary>Headers the decision server reads: ours, the agent's token, and what tracing and body parsing need.</summary>
    private static readonly string[] AllowedHeaders = ["authorization", "content-type", "traceparent", "tracestate"];

    public static JsonObject Build(SidecarOptions options, SidecarIdentity identity)
    {
        var (decisionHost, decisionPort) = SplitAddress(options.DecisionAddress);
        return new JsonObject
        {
            ["node"] = new JsonObject
            {
                ["id"] = $"{identity.Tenant}/{identity.AgentId}",
                ["cluster"] = "aegis-sidecar",
                ["metadata"] = new JsonObject { ["tenant"] = identity.Tenant, ["agent_id"] = identity.AgentId },
            },
            ["admin"] = new JsonObject { ["address"] = Address("127.0.0.1", options.AdminPort) },
            ["static_resources"] = new JsonObject
            {
                ["listeners"] = new JsonArray(Listener(options, identity)),
                ["clusters"] = new JsonArray(ForwardProxyClusterConfig(), DecisionClusterConfig(decisionHost, decisionPort)),
            },
        };
    }

    /// <summary>Splits <c>host:port</c>; throws <see cref="FormatException"/> naming the field when it is not one.</summary>
    public static (string Host, int Port) SplitAddress(string address)
    {
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new FormatException($"decision address \"{address}\" is not host:port (e.g. aegis-decision.aegis-system.svc:9191)");
        }

        return (address[..colon], port);
    }

    private static JsonObject Listener(SidecarOptions options, SidecarIdentity identity) => new()
    {
        ["name"] = ListenerName,
        ["address"] = Address("127.0.0.1", options.ProxyPort),
        ["filter_chains"] = new JsonArray(new JsonObject
        {
            ["filters"] = new JsonArray(new JsonObject
            {
                ["name"] = "envoy.filters.network.http_connection_manager",
                ["typed_config"] = new JsonObject
                {
                    ["@type"] = TypePrefix + "filters.network.http_connection_manager.v3.HttpConnectionManager",
                    ["stat_prefix"] = ListenerName,
                    // Clients configured through HTTP_PROXY send absolute URLs; HTTPS arrives as CONNECT.
                    ["http_protocol_options"] = new JsonObject { ["allow_absolute_url"] = true },
                    ["http2_protocol_options"] = new JsonObject { ["allow_connect"] = true },
                    ["upgrade_configs"] = new JsonArray(new JsonObject { ["upgrade_type"] = "CONNECT" }),
                    ["route_config"] = RouteConfig(identity),
                    ["http_filters"] = new JsonArray(ExtAuthz(options), ExtProc(options, identity), DynamicForwardProxyFilter(), Filter("envoy.filters.http.router", "filters.http.router.v3.Router", [])),
                },
            }),
        }),
    };

    private static JsonObject RouteConfig(SidecarIdentity identity) => new()
    {
        ["name"] = ListenerName,
        ["virtual_hosts"] = new JsonArray(new JsonObject
        {
            ["name"] = "egress",
            ["domains"] = new JsonArray("*"),
            ["routes"] = new JsonArray(
                new JsonObject
                {
                    // HTTPS: the CONNECT is authorized (host and port only: the tunnel is end-to-end TLS), then
                    // terminated here and its bytes forwarded. A tunnel has no body to buffer and nothing for ext_proc.
                    ["match"] = new JsonObject { ["connect_matcher"] = new JsonObject() },
                    ["route"] = new JsonObject
                    {
                        ["cluster"] = ForwardProxyCluster,
                        ["upgrade_configs"] = new JsonArray(new JsonObject { ["upgrade_type"] = "CONNECT", ["connect_config"] = new JsonObject() }),
                    },
                    ["typed_per_filter_config"] = new JsonObject
                    {
                        [ExtAuthzFilter] = ExtAuthzPerRoute(identity, disableBodyBuffering: true),
                        [ExtProcFilter] = new JsonObject { ["@type"] = TypePrefix + "filters.http.ext_proc.v3.ExtProcPerRoute", ["disabled"] = true },
                    },
                },
                new JsonObject
                {
                    ["match"] = new JsonObject { ["prefix"] = "/" },
                    ["route"] = new JsonObject { ["cluster"] = ForwardProxyCluster },
                    ["typed_per_filter_config"] = new JsonObject { [ExtAuthzFilter] = ExtAuthzPerRoute(identity, disableBodyBuffering: false) },
                }),
        }),
    };

    /// <summary>Set on each route (the most specific per-filter config wins, so nothing is left to merging).</summary>
    private static JsonObject ExtAuthzPerRoute(SidecarIdentity identity, bool disableBodyBuffering)
    {
        var settings = new JsonObject { ["context_extensions"] = new JsonObject { [EnvoyContract.TenantExtension] = identity.Tenant, [EnvoyContract.AgentExtension] = identity.AgentId } };
        if (disableBodyBuffering)
        {
            settings["disable_request_body_buffering"] = true;
        }

        return new JsonObject { ["@type"] = TypePrefix + "filters.http.ext_authz.v3.ExtAuthzPerRoute", ["check_settings"] = settings };
    }

    private static JsonObject ExtAuthz(SidecarOptions options)
    {
        var patterns = new JsonArray(new JsonObject { ["prefix"] = "x-aegis-" });
        foreach (var header in AllowedHeaders)
        {
            patterns.Add(new JsonObject { ["exact"] = header });
        }

        return Filter(ExtAuthzFilter, "filters.http.ext_authz.v3.ExtAuthz", new JsonObject
        {
            ["transport_api_version"] = "V3",
            ["grpc_service"] = GrpcService(options),
            // Fail closed: no answer from the decision server is never an allow.
            ["failure_mode_allow"] = false,
            ["status_on_error"] = new JsonObject { ["code"] = "ServiceUnavailable" },
            ["with_request_body"] = new JsonObject { ["max_request_bytes"] = options.MaxRequestBodyBytes, ["allow_partial_message"] = false, ["pack_as_bytes"] = true },
            ["allowed_headers"] = new JsonObject { ["patterns"] = patterns },
        });
    }

    /// <summary>
    /// Headers go to the decision server's ext_proc stream; it asks for the buffered body (mode override) only
    /// when ext_authz decided sanitize, so allowed calls pay one header round trip and no body copy. ext_authz's
    /// dynamic metadata (its decision and the agent token it removed from the request) is forwarded, and the pod's
    /// identity travels as gRPC initial metadata, the counterpart of ext_authz's context extensions.
    /// </summary>
    private static JsonObject ExtProc(SidecarOptions options, SidecarIdentity identity)
    {
        var grpc = GrpcService(options);
        grpc["initial_metadata"] = new JsonArray(
            new JsonObject { ["key"] = EnvoyContract.TenantMetadata, ["value"] = identity.Tenant },
            new JsonObject { ["key"] = EnvoyContract.AgentMetadata, ["value"] = identity.AgentId });
        return Filter(ExtProcFilter, "filters.http.ext_proc.v3.ExternalProcessor", new JsonObject
        {
            ["grpc_service"] = grpc,
            ["failure_mode_allow"] = false,
            ["message_timeout"] = Duration(options.DecisionTimeout),
            ["allow_mode_override"] = true,
            ["metadata_options"] = new JsonObject
            {
                ["forwarding_namespaces"] = new JsonObject { ["untyped"] = new JsonArray(EnvoyContract.ExtAuthzMetadataNamespace) },
            },
            ["processing_mode"] = new JsonObject
            {
                ["request_header_mode"] = "SEND",
                ["response_header_mode"] = "SKIP",
                ["request_body_mode"] = "NONE",
                ["response_body_mode"] = "NONE",
                ["request_trailer_mode"] = "SKIP",
                ["response_trailer_mode"] = "SKIP",
            },
        });
    }

    private static JsonObject GrpcService(SidecarOptions options) => new()
    {
        ["envoy_grpc"] = new JsonObject { ["cluster_name"] = DecisionCluster },
        ["timeout"] = Duration(options.DecisionTimeout),
    };

    private static JsonObject DynamicForwardProxyFilter() =>
        Filter("envoy.filters.http.dynamic_forward_proxy", "filters.http.dynamic_forward_proxy.v3.FilterConfig", new JsonObject { ["dns_cache_config"] = DnsCache() });

    /// <summary>The filter and the cluster must name the same cache with the same settings.</summary>
    private static JsonObject DnsCache() => new()
    {
        ["name"] = "aegis_dns_cache",
        ["dns_lookup_family"] = "V4_PREFERRED",
        ["host_ttl"] = "300s",
        ["max_hosts"] = 1024,
    };

    private static JsonObject ForwardProxyClusterConfig() => new()
    {
        ["name"] = ForwardProxyCluster,
        ["connect_timeout"] = "5s",
        ["lb_policy"] = "CLUSTER_PROVIDED",
        ["cluster_type"] = new JsonObject
        {
            ["name"] = "envoy.clusters.dynamic_forward_proxy",
            ["typed_config"] = new JsonObject
            {
                ["@type"] = TypePrefix + "clusters.dynamic_forward_proxy.v3.ClusterConfig",
                ["dns_cache_config"] = DnsCache(),
            },
        },
    };

    private static JsonObject DecisionClusterConfig(string host, int port) => new()
    {
        ["name"] = DecisionCluster,
        ["type"] = "STRICT_DNS",
        ["connect_timeout"] = "1s",
        ["lb_policy"] = "ROUND_ROBIN",
        ["typed_extension_protocol_options"] = new JsonObject
        {
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = new JsonObject
            {
                ["@type"] = TypePrefix + "upstreams.http.v3.HttpProtocolOptions",
                ["explicit_http_config"] = new JsonObject { ["http2_protocol_options"] = new JsonObject() },
            },
        },
        ["load_assignment"] = new JsonObject
        {
            ["cluster_name"] = DecisionCluster,
            ["endpoints"] = new JsonArray(new JsonObject
            {
                ["lb_endpoints"] = new JsonArray(new JsonObject { ["endpoint"] = new JsonObject { ["address"] = Address(host, port) } }),
            }),
        },
    };

    private static JsonObject Filter(string name, string type, JsonObject config)
    {
        var typed = new JsonObject { ["@type"] = TypePrefix + type };
        foreach (var (key, value) in config.ToList())
        {
            config.Remove(key);
            typed[key] = value;
        }

        return new JsonObject { ["name"] = name, ["typed_config"] = typed };
    }

    private static JsonObject Address(string host, int port) =>
        new() { ["socket_address"] = new JsonObject { ["address"] = host, ["port_value"] = port } };

    private static string Duration(TimeSpan value) => value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
}
