using System.Text.Json.Nodes;
using Aegis.Contracts.Wire;
using Aegis.Operator.Sidecar;
using Aegis.Operator.Tests.Injection;

namespace Aegis.Operator.Tests.Sidecar;

/// <summary>The settings the decision server and the threat model rely on, read out of the generated bootstrap one by one.</summary>
public class EnvoyBootstrapContractTests
{
    private static readonly JsonObject Bootstrap = EnvoyBootstrap.Build(new SidecarOptions(), new SidecarIdentity("acme", "payments-bot"), WebhookHarness.DecisionCa);

    private static JsonArray Listeners => Bootstrap["static_resources"]!["listeners"]!.AsArray();

    private static JsonNode Listener(string name) => Listeners.Single(l => l!["name"]!.ToString() == name)!;

    private static JsonNode Cluster(string name) => Bootstrap["static_resources"]!["clusters"]!.AsArray().Single(c => c!["name"]!.ToString() == name)!;

    private static JsonNode HttpFilter(JsonNode hcm, string name) => hcm["typed_config"]!["http_filters"]!.AsArray().Single(f => f!["name"]!.ToString() == name)!["typed_config"]!;

    private static JsonNode ExplicitHcm => Listener(EnvoyBootstrap.ListenerName)["filter_chains"]![0]!["filters"]![0]!;

    private static JsonArray Routes(JsonNode hcm) => hcm["typed_config"]!["route_config"]!["virtual_hosts"]![0]!["routes"]!.AsArray();

    private static JsonNode TransparentChain(string name) => Listener(EnvoyBootstrap.TransparentListenerName)["filter_chains"]!.AsArray().Single(c => c!["name"]!.ToString() == name)!;

    [Fact]
    public void ExtAuthz_SendsEveryHeader_BuffersUpToTheDecisionServersCap_AndLetsTheDecisionPickTheRoute()
    {
        var authz = HttpFilter(ExplicitHcm, "envoy.filters.http.ext_authz");

        Assert.Null(authz["allowed_headers"]);
        Assert.Equal(1024 * 1024, authz["with_request_body"]!["max_request_bytes"]!.GetValue<int>());
        Assert.False(authz["with_request_body"]!["allow_partial_message"]!.GetValue<bool>());
        Assert.True(authz["with_request_body"]!["pack_as_bytes"]!.GetValue<bool>());
        Assert.True(authz["clear_route_cache"]!.GetValue<bool>());
        Assert.False(authz["failure_mode_allow"]!.GetValue<bool>());
    }

    [Fact]
    public void ExtProc_AllowsModeOverride_WithAPerMessageTimeoutForStreamedBodies_AndNoStreamDeadline()
    {
        var proc = HttpFilter(ExplicitHcm, "envoy.filters.http.ext_proc");

        Assert.True(proc["allow_mode_override"]!.GetValue<bool>());
        Assert.Equal("30s", proc["message_timeout"]!.ToString());
        Assert.Null(proc["grpc_service"]!["timeout"]);
        Assert.Equal("SKIP", proc["processing_mode"]!["response_header_mode"]!.ToString());
        Assert.False(proc["failure_mode_allow"]!.GetValue<bool>());
    }

    [Fact]
    public void ExtProc_MessageTimeout_NeverShorterThanTheDecisionTimeout()
    {
        var bootstrap = EnvoyBootstrap.Build(new SidecarOptions { DecisionTimeout = TimeSpan.FromSeconds(45) }, new SidecarIdentity("acme", "a"), WebhookHarness.DecisionCa);
        var hcm = bootstrap["static_resources"]!["listeners"]![0]!["filter_chains"]![0]!["filters"]![0]!;

        Assert.Equal("45s", HttpFilter(hcm, "envoy.filters.http.ext_proc")["message_timeout"]!.ToString());
    }

    [Fact]
    public void EgressRoutes_NeverCutAStreamedAnswer_ButCloseIdleOnes()
    {
        Assert.All(Routes(ExplicitHcm), route =>
        {
            Assert.Equal("0s", route!["route"]!["timeout"]!.ToString());
            Assert.Equal("300s", route["route"]!["idle_timeout"]!.ToString());
        });
    }

    [Fact]
    public void TlsOriginationRoute_MatchesOnlyTheDecisionsHeader_AndNoRouteForwardsIt()
    {
        var routes = Routes(ExplicitHcm);
        var tls = routes.Single(r => r!["route"]!["cluster"]!.ToString() == EnvoyBootstrap.TlsOriginationCluster)!;

        Assert.Equal(AegisHeaders.UpstreamTls, tls["match"]!["headers"]![0]!["name"]!.ToString());
        Assert.Equal("true", tls["match"]!["headers"]![0]!["string_match"]!["exact"]!.ToString());
        Assert.All(routes.Where(r => r!["match"]!["connect_matcher"] is null), r => Assert.Equal([AegisHeaders.UpstreamTls], r!["request_headers_to_remove"]!.AsArray().Select(h => h!.ToString())));
        var context = Cluster(EnvoyBootstrap.TlsOriginationCluster);
        Assert.Equal("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", context["transport_socket"]!["typed_config"]!["@type"]!.ToString());
        Assert.Equal("/etc/ssl/certs/ca-certificates.crt", context["transport_socket"]!["typed_config"]!["common_tls_context"]!["validation_context"]!["trusted_ca"]!["filename"]!.ToString());
        var upstream = context["typed_extension_protocol_options"]!["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]!["upstream_http_protocol_options"]!;
        Assert.True(upstream["auto_sni"]!.GetValue<bool>());
        Assert.True(upstream["auto_san_validation"]!.GetValue<bool>());
    }

    [Fact]
    public void TransparentListener_RestoresTheDestination_AndHasOnlyTlsAndHttpChains()
    {
        var listener = Listener(EnvoyBootstrap.TransparentListenerName);

        Assert.Equal(15002, listener["address"]!["socket_address"]!["port_value"]!.GetValue<int>());
        Assert.Equal("127.0.0.1", listener["address"]!["socket_address"]!["address"]!.ToString());
        Assert.Equal(["envoy.filters.listener.original_dst", "envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector"],
            listener["listener_filters"]!.AsArray().Select(f => f!["name"]!.ToString()));
        Assert.Equal(["tls", "http"], listener["filter_chains"]!.AsArray().Select(c => c!["name"]!.ToString()));

        // No default_filter_chain: a connection that is neither TLS nor HTTP matches nothing and is closed.
        Assert.Null(listener["default_filter_chain"]);
        Assert.Equal("tls", TransparentChain("tls")["filter_chain_match"]!["transport_protocol"]!.ToString());
        Assert.Equal(["http/1.0", "http/1.1", "h2c"], TransparentChain("http")["filter_chain_match"]!["application_protocols"]!.AsArray().Select(p => p!.ToString()));
        Assert.True(JsonNode.DeepEquals(ExplicitHcm["typed_config"]!["route_config"], TransparentChain("http")["filters"]![0]!["typed_config"]!["route_config"]));
    }

    [Fact]
    public void TlsChain_DecidesOnTheSniWithThePodsIdentity_ThenTunnelsToTheSniHostNotTheDialledAddress()
    {
        var filters = TransparentChain("tls")["filters"]!.AsArray();
        var authz = filters[0]!["typed_config"]!;

        Assert.Equal(["envoy.filters.network.ext_authz", "envoy.filters.network.set_filter_state", "envoy.filters.network.sni_dynamic_forward_proxy", "envoy.filters.network.tcp_proxy"],
            filters.Select(f => f!["name"]!.ToString()));
        Assert.Equal("type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz", authz["@type"]!.ToString());
        Assert.False(authz["failure_mode_allow"]!.GetValue<bool>());
        Assert.True(authz["include_tls_session"]!.GetValue<bool>());
        Assert.Equal("V3", authz["transport_api_version"]!.ToString());
        Assert.Equal(EnvoyBootstrap.DecisionCluster, authz["grpc_service"]!["envoy_grpc"]!["cluster_name"]!.ToString());
        Assert.True(JsonNode.DeepEquals(
            new JsonArray(new JsonObject { ["key"] = EnvoyContract.TenantMetadata, ["value"] = "acme" }, new JsonObject { ["key"] = EnvoyContract.AgentMetadata, ["value"] = "payments-bot" }),
            authz["grpc_service"]!["initial_metadata"]));
        Assert.True(JsonNode.DeepEquals(authz["grpc_service"]!["initial_metadata"], HttpFilter(ExplicitHcm, "envoy.filters.http.ext_proc")["grpc_service"]!["initial_metadata"]));
        Assert.Equal("%DOWNSTREAM_LOCAL_PORT%", filters[1]!["typed_config"]!["on_new_connection"]![0]!["format_string"]!["text_format_source"]!["inline_string"]!.ToString());
        Assert.Equal(EnvoyBootstrap.TlsPassthroughCluster, filters[3]!["typed_config"]!["cluster"]!.ToString());
        Assert.Equal("envoy.clusters.dynamic_forward_proxy", Cluster(EnvoyBootstrap.TlsPassthroughCluster)["cluster_type"]!["name"]!.ToString());
    }

    [Fact]
    public void DecisionCluster_TrustsOnlyTheOperatorsCa_AndChecksTheServiceName()
    {
        var tls = Cluster(EnvoyBootstrap.DecisionCluster)["transport_socket"]!["typed_config"]!;
        var validation = tls["common_tls_context"]!["validation_context"]!;

        Assert.Equal("aegis-decision.aegis-system.svc", tls["sni"]!.ToString());
        Assert.Equal(["h2"], tls["common_tls_context"]!["alpn_protocols"]!.AsArray().Select(p => p!.ToString()));
        Assert.Equal(WebhookHarness.DecisionCa, validation["trusted_ca"]!["inline_string"]!.ToString());
        Assert.Null(validation["trusted_ca"]!["filename"]);
        Assert.True(JsonNode.DeepEquals(new JsonArray(new JsonObject { ["san_type"] = "DNS", ["matcher"] = new JsonObject { ["exact"] = "aegis-decision.aegis-system.svc" } }),
            validation["match_typed_subject_alt_names"]));
    }

    [Fact]
    public void Admin_IsAUnixSocketOnlyTheProxyCanOpen()
    {
        var pipe = Bootstrap["admin"]!["address"]!["pipe"]!;

        Assert.Equal(SidecarOptions.AdminSocketPath, pipe["path"]!.ToString());
        Assert.Equal(384, pipe["mode"]!.GetValue<int>());
        Assert.Null(Bootstrap["admin"]!["address"]!["socket_address"]);
    }

    public static TheoryData<int, bool> DecisionTimeouts => new()
    {
        { 1, true },
        { 500, true },
        { 3_600_000, true },
        { 0, false },
        { -5, false },
        { 3_600_001, false },
    };

    [Theory]
    [MemberData(nameof(DecisionTimeouts))]
    public void Problem_DecisionTimeout_AcceptedOnlyWithinWhatEnvoyAccepts(int milliseconds, bool accepted)
    {
        var problem = new SidecarOptions { DecisionTimeout = TimeSpan.FromMilliseconds(milliseconds) }.Problem();

        Assert.Equal(accepted, problem is null);
        if (!accepted)
        {
            Assert.Contains("--decision-timeout-ms", problem, StringComparison.Ordinal);
            Assert.Contains("3600000 ms", problem, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1024 * 1024 + 1)]
    public void Problem_BodyCapOutsideWhatTheDecisionServerReads_IsRefused(int bytes) =>
        Assert.Contains("--max-request-body-bytes", new SidecarOptions { MaxRequestBodyBytes = bytes }.Problem(), StringComparison.Ordinal);
}
