using System.Globalization;
using System.Text.Json.Nodes;
using Aegis.Contracts.Wire;

namespace Aegis.Operator.Sidecar;

/// <summary>Who a sidecar speaks for: its tenant and agent id reach the decision server as ext_authz context extensions and gRPC metadata.</summary>
public sealed record SidecarIdentity(string Tenant, string AgentId);

/// <summary>
/// Generates the Envoy v3 bootstrap of one pod's sidecar (docs/sidecar.md): the explicit HTTP proxy on 127.0.0.1
/// (HTTP_PROXY), the transparent listener every other outbound TCP connection is redirected to (plain HTTP through
/// the same HTTP chain, TLS decided on its SNI by the network ext_authz filter, anything else closed), ext_authz and
/// ext_proc to the decision server over TLS verified against the operator's CA, failing closed, and TLS origination
/// for ToolServer hosts when the decision says so.
/// </summary>
public static class EnvoyBootstrap
{
    public const string ListenerName = "aegis_egress";
    public const string TransparentListenerName = "aegis_transparent";
    public const string DecisionCluster = "aegis_decision";
    public const string ForwardProxyCluster = "aegis_forward_proxy";
    public const string TlsOriginationCluster = "aegis_forward_proxy_tls";
    public const string TlsPassthroughCluster = "aegis_tls_passthrough";

    /// <summary>
    /// Set by the decision server on an OK answer for a request to a TLS ToolServer (removed otherwise): the route is
    /// chosen again (ext_authz <c>clear_route_cache</c>) and the request goes upstream over TLS; the header never leaves the pod.
    /// </summary>
    public const string UpstreamTlsHeader = AegisHeaders.UpstreamTls;

    /// <summary>What Envoy's http_inspector reports for plain HTTP; anything else that is not TLS matches no filter chain and is closed.</summary>
    private static readonly string[] HttpApplicationProtocols = ["http/1.0", "http/1.1", "h2c"];

    private const string ExtAuthzFilter = "envoy.filters.http.ext_authz";
    private const string ExtProcFilter = "envoy.filters.http.ext_proc";
    private const string TypePrefix = "type.googleapis.com/envoy.extensions.";

    /// <param name="options">The operator's sidecar settings.</param>
    /// <param name="identity">Who the pod speaks for.</param>
    /// <param name="decisionCaBundle">PEM certificates of the operator's CA the decision server's certificate must chain to (and nothing else).</param>
    public static JsonObject Build(SidecarOptions options, SidecarIdentity identity, string decisionCaBundle)
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

            // A Unix socket only the proxy container mounts: on 127.0.0.1 the agent could drain listeners or change runtime flags.
            ["admin"] = new JsonObject { ["address"] = new JsonObject { ["pipe"] = new JsonObject { ["path"] = SidecarOptions.AdminSocketPath, ["mode"] = 384 } } },
            ["static_resources"] = new JsonObject
            {
                ["listeners"] = new JsonArray(ExplicitListener(options, identity), TransparentListener(options, identity)),
                ["clusters"] = new JsonArray(
                    ForwardProxyClusterConfig(ForwardProxyCluster),
                    TlsOriginationClusterConfig(options),
                    ForwardProxyClusterConfig(TlsPassthroughCluster),
                    DecisionClusterConfig(decisionHost, decisionPort, decisionCaBundle)),
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

    /// <summary>Clients that honour HTTP_PROXY: absolute URLs for plain HTTP, CONNECT for HTTPS.</summary>
    private static JsonObject ExplicitListener(SidecarOptions options, SidecarIdentity identity) => new()
    {
        ["name"] = ListenerName,
        ["address"] = Address("127.0.0.1", options.ProxyPort),
        ["filter_chains"] = new JsonArray(new JsonObject { ["filters"] = new JsonArray(HttpConnectionManager(options, identity, ListenerName)) }),
    };

    /// <summary>
    /// Everything iptables redirects. original_dst restores the destination the agent dialled; tls_inspector reads
    /// the ClientHello's SNI; http_inspector recognises plain HTTP. A connection that is neither matches no filter
    /// chain and Envoy closes it: other protocols are denied until a rule kind for them exists.
    /// </summary>
    private static JsonObject TransparentListener(SidecarOptions options, SidecarIdentity identity) => new()
    {
        ["name"] = TransparentListenerName,
        ["address"] = Address("127.0.0.1", options.TransparentPort),
        ["listener_filters"] = new JsonArray(
            Filter("envoy.filters.listener.original_dst", "filters.listener.original_dst.v3.OriginalDst", []),
            Filter("envoy.filters.listener.tls_inspector", "filters.listener.tls_inspector.v3.TlsInspector", []),
            Filter("envoy.filters.listener.http_inspector", "filters.listener.http_inspector.v3.HttpInspector", [])),
        ["filter_chains"] = new JsonArray(
            new JsonObject
            {
                ["name"] = "tls",
                ["filter_chain_match"] = new JsonObject { ["transport_protocol"] = "tls" },
                ["filters"] = TlsFilters(options, identity),
            },
            new JsonObject
            {
                ["name"] = "http",
                ["filter_chain_match"] = new JsonObject { ["application_protocols"] = new JsonArray([.. HttpApplicationProtocols.Select(p => (JsonNode)p)]) },
                ["filters"] = new JsonArray(HttpConnectionManager(options, identity, TransparentListenerName)),
            }),
    };

    /// <summary>
    /// TLS the agent originated itself is decided on its SNI and tunnelled end to end. The upstream is the SNI host
    /// (resolved by Envoy, on the port the agent dialled), never the address the agent dialled: a ClientHello naming an
    /// allowed host cannot carry the connection to another one.
    /// </summary>
    private static JsonArray TlsFilters(SidecarOptions options, SidecarIdentity identity) => new(
        // https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/ext_authz/v3/ext_authz.proto:
        // a failed or unanswered check closes the connection; include_tls_session sends the SNI in tls_session.sni.
        Filter("envoy.filters.network.ext_authz", "filters.network.ext_authz.v3.ExtAuthz", new JsonObject
        {
            ["stat_prefix"] = "aegis_tls",
            ["grpc_service"] = IdentifiedGrpcService(identity, options.DecisionTimeout),
            ["failure_mode_allow"] = false,
            ["transport_api_version"] = "V3",
            ["include_tls_session"] = true,
        }),

        // The SNI dynamic forward proxy connects to the port the agent dialled (restored by original_dst), not a fixed 443.
        Filter("envoy.filters.network.set_filter_state", "filters.network.set_filter_state.v3.Config", new JsonObject
        {
            ["on_new_connection"] = new JsonArray(new JsonObject
            {
                ["object_key"] = "envoy.upstream.dynamic_port",
                ["format_string"] = new JsonObject { ["text_format_source"] = new JsonObject { ["inline_string"] = "%DOWNSTREAM_LOCAL_PORT%" } },
            }),
        }),
        Filter("envoy.filters.network.sni_dynamic_forward_proxy", "filters.network.sni_dynamic_forward_proxy.v3.FilterConfig", new JsonObject
        {
            ["dns_cache_config"] = DnsCache(),
            ["port_value"] = 443,
        }),
        Filter("envoy.filters.network.tcp_proxy", "filters.network.tcp_proxy.v3.TcpProxy", new JsonObject
        {
            ["stat_prefix"] = "aegis_tls",
            ["cluster"] = TlsPassthroughCluster,
            ["idle_timeout"] = Duration(options.StreamIdleTimeout),
        }));

    private static JsonObject HttpConnectionManager(SidecarOptions options, SidecarIdentity identity, string statPrefix) => new()
    {
        ["name"] = "envoy.filters.network.http_connection_manager",
        ["typed_config"] = new JsonObject
        {
            ["@type"] = TypePrefix + "filters.network.http_connection_manager.v3.HttpConnectionManager",
            ["stat_prefix"] = statPrefix,

            // Clients configured through HTTP_PROXY send absolute URLs; HTTPS arrives as CONNECT.
            ["http_protocol_options"] = new JsonObject { ["allow_absolute_url"] = true },
            ["http2_protocol_options"] = new JsonObject { ["allow_connect"] = true },
            ["upgrade_configs"] = new JsonArray(new JsonObject { ["upgrade_type"] = "CONNECT" }),
            ["route_config"] = RouteConfig(options, identity),
            ["http_filters"] = new JsonArray(ExtAuthz(options), ExtProc(options, identity), DynamicForwardProxyFilter(), Filter("envoy.filters.http.router", "filters.http.router.v3.Router", [])),
        },
    };

    private static JsonObject RouteConfig(SidecarOptions options, SidecarIdentity identity) => new()
    {
        ["name"] = "aegis_egress",
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
                    ["route"] = Streaming(options, new JsonObject
                    {
                        ["cluster"] = ForwardProxyCluster,
                        ["upgrade_configs"] = new JsonArray(new JsonObject { ["upgrade_type"] = "CONNECT", ["connect_config"] = new JsonObject() }),
                    }),
                    ["typed_per_filter_config"] = new JsonObject
                    {
                        [ExtAuthzFilter] = ExtAuthzPerRoute(identity, disableBodyBuffering: true),
                        [ExtProcFilter] = new JsonObject { ["@type"] = TypePrefix + "filters.http.ext_proc.v3.ExtProcPerRoute", ["disabled"] = true },
                    },
                },
                new JsonObject
                {
                    // The decision picked TLS origination (a ToolServer reached by http:// through the sidecar).
                    ["match"] = new JsonObject
                    {
                        ["prefix"] = "/",
                        ["headers"] = new JsonArray(new JsonObject { ["name"] = UpstreamTlsHeader, ["string_match"] = new JsonObject { ["exact"] = "true" } }),
                    },
                    ["route"] = Streaming(options, new JsonObject { ["cluster"] = TlsOriginationCluster }),
                    ["request_headers_to_remove"] = new JsonArray(UpstreamTlsHeader),
                    ["typed_per_filter_config"] = new JsonObject { [ExtAuthzFilter] = ExtAuthzPerRoute(identity, disableBodyBuffering: false) },
                },
                new JsonObject
                {
                    ["match"] = new JsonObject { ["prefix"] = "/" },
                    ["route"] = Streaming(options, new JsonObject { ["cluster"] = ForwardProxyCluster }),
                    ["request_headers_to_remove"] = new JsonArray(UpstreamTlsHeader),
                    ["typed_per_filter_config"] = new JsonObject { [ExtAuthzFilter] = ExtAuthzPerRoute(identity, disableBodyBuffering: false) },
                }),
        }),
    };

    /// <summary>
    /// Streamed answers (SSE from MCP servers and LLM APIs) must not be cut off: RouteAction <c>timeout: 0s</c> disables
    /// the 15 s default that runs until the response is complete; <c>idle_timeout</c> still closes a stream that
    /// sends nothing for <see cref="SidecarOptions.StreamIdleTimeout"/>
    /// (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto, RouteAction.timeout/idle_timeout).
    /// </summary>
    private static JsonObject Streaming(SidecarOptions options, JsonObject route)
    {
        route["timeout"] = "0s";
        route["idle_timeout"] = Duration(options.StreamIdleTimeout);
        return route;
    }

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

    /// <summary>
    /// https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto: no
    /// <c>allowed_headers</c>, so every request header reaches the decision server (sanitize rules may redact any,
    /// cookies and API keys included); <c>with_request_body</c> buffers up to the decision server's cap and refuses
    /// larger requests with 413 (<c>allow_partial_message: false</c>), as raw bytes (<c>pack_as_bytes</c>);
    /// <c>clear_route_cache</c> re-selects the route after an OK answer that changed headers, which is how the
    /// decision picks TLS origination.
    /// </summary>
    private static JsonObject ExtAuthz(SidecarOptions options) => Filter(ExtAuthzFilter, "filters.http.ext_authz.v3.ExtAuthz", new JsonObject
    {
        ["transport_api_version"] = "V3",
        ["grpc_service"] = GrpcService(options.DecisionTimeout),

        // Fail closed: no answer from the decision server is never an allow.
        ["failure_mode_allow"] = false,
        ["status_on_error"] = new JsonObject { ["code"] = "ServiceUnavailable" },
        ["with_request_body"] = new JsonObject { ["max_request_bytes"] = options.MaxRequestBodyBytes, ["allow_partial_message"] = false, ["pack_as_bytes"] = true },
        ["clear_route_cache"] = true,
    });

    /// <summary>
    /// https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_proc/v3/ext_proc.proto. By default
    /// only request headers go to the decision server; its answer to them may ask, through <c>mode_override</c>
    /// (honoured only with <c>allow_mode_override: true</c>, and only in answers to header messages), for the buffered
    /// request body (sanitize), response headers and a STREAMED response body (MCP <c>tools/list</c> filtering, LLM usage
    /// metering). <c>message_timeout</c> is per message, not per stream: a long SSE answer is fine as long as each
    /// chunk is answered in time. The stream itself has no deadline (the grpc_service timeout is not applied to it),
    /// so none is set here. ext_authz's dynamic metadata is forwarded, and the pod's identity travels as gRPC initial metadata.
    /// </summary>
    private static JsonObject ExtProc(SidecarOptions options, SidecarIdentity identity)
    {
        var grpc = IdentifiedGrpcService(identity, timeout: null);
        return Filter(ExtProcFilter, "filters.http.ext_proc.v3.ExternalProcessor", new JsonObject
        {
            ["grpc_service"] = grpc,
            ["failure_mode_allow"] = false,
            ["message_timeout"] = Duration(options.ProcessingMessageTimeout > options.DecisionTimeout ? options.ProcessingMessageTimeout : options.DecisionTimeout),
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

    private static JsonObject GrpcService(TimeSpan? timeout)
    {
        var service = new JsonObject { ["envoy_grpc"] = new JsonObject { ["cluster_name"] = DecisionCluster } };
        if (timeout is { } value)
        {
            service["timeout"] = Duration(value);
        }

        return service;
    }

    /// <summary>The pod's identity as gRPC initial metadata: what ext_proc and the network ext_authz filter (which has no context extensions) can carry.</summary>
    private static JsonObject IdentifiedGrpcService(SidecarIdentity identity, TimeSpan? timeout)
    {
        var service = GrpcService(timeout);
        service["initial_metadata"] = new JsonArray(
            new JsonObject { ["key"] = EnvoyContract.TenantMetadata, ["value"] = identity.Tenant },
            new JsonObject { ["key"] = EnvoyContract.AgentMetadata, ["value"] = identity.AgentId });
        return service;
    }

    private static JsonObject DynamicForwardProxyFilter() =>
        Filter("envoy.filters.http.dynamic_forward_proxy", "filters.http.dynamic_forward_proxy.v3.FilterConfig", new JsonObject { ["dns_cache_config"] = DnsCache() });

    /// <summary>Every filter and cluster must name the same cache with the same settings.</summary>
    private static JsonObject DnsCache() => new()
    {
        ["name"] = "aegis_dns_cache",
        ["dns_lookup_family"] = "V4_PREFERRED",
        ["host_ttl"] = "300s",
        ["max_hosts"] = 1024,
    };

    private static JsonObject ForwardProxyClusterConfig(string name) => new()
    {
        ["name"] = name,
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

    /// <summary>
    /// The dynamic forward proxy again, originating TLS: a plain <c>http://host</c> request goes upstream over TLS to
    /// port 443 (unless the Host names another), with the SNI set to the host and its certificate checked against the
    /// image's trust bundle and that host name (<c>auto_sni</c> and <c>auto_san_validation</c>, both required with
    /// upstream options; https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/protocol.proto, UpstreamHttpProtocolOptions).
    /// </summary>
    private static JsonObject TlsOriginationClusterConfig(SidecarOptions options)
    {
        var cluster = ForwardProxyClusterConfig(TlsOriginationCluster);
        cluster["transport_socket"] = UpstreamTls(new JsonObject
        {
            ["common_tls_context"] = new JsonObject
            {
                ["validation_context"] = new JsonObject { ["trusted_ca"] = new JsonObject { ["filename"] = options.SystemTrustBundle } },
            },
        });
        cluster["typed_extension_protocol_options"] = new JsonObject
        {
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = new JsonObject
            {
                ["@type"] = TypePrefix + "upstreams.http.v3.HttpProtocolOptions",
                ["upstream_http_protocol_options"] = new JsonObject { ["auto_sni"] = true, ["auto_san_validation"] = true },
                ["explicit_http_config"] = new JsonObject { ["http_protocol_options"] = new JsonObject() },
            },
        };
        return cluster;
    }

    /// <summary>
    /// HTTP/2 over TLS to the decision server (ALPN h2, which Kestrel needs), trusting only the operator's CA and only
    /// a certificate that names the host the sidecar dials.
    /// </summary>
    private static JsonObject DecisionClusterConfig(string host, int port, string caBundle) => new()
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
        ["transport_socket"] = UpstreamTls(new JsonObject
        {
            ["sni"] = host,
            ["common_tls_context"] = new JsonObject
            {
                ["alpn_protocols"] = new JsonArray("h2"),
                ["validation_context"] = new JsonObject
                {
                    ["trusted_ca"] = new JsonObject { ["inline_string"] = caBundle },
                    ["match_typed_subject_alt_names"] = new JsonArray(new JsonObject { ["san_type"] = "DNS", ["matcher"] = new JsonObject { ["exact"] = host } }),
                },
            },
        }),
        ["load_assignment"] = new JsonObject
        {
            ["cluster_name"] = DecisionCluster,
            ["endpoints"] = new JsonArray(new JsonObject
            {
                ["lb_endpoints"] = new JsonArray(new JsonObject { ["endpoint"] = new JsonObject { ["address"] = Address(host, port) } }),
            }),
        },
    };

    private static JsonObject UpstreamTls(JsonObject context)
    {
        var typed = new JsonObject { ["@type"] = TypePrefix + "transport_sockets.tls.v3.UpstreamTlsContext" };
        foreach (var (key, value) in context.ToList())
        {
            context.Remove(key);
            typed[key] = value;
        }

        return new JsonObject { ["name"] = "envoy.transport_sockets.tls", ["typed_config"] = typed };
    }

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
