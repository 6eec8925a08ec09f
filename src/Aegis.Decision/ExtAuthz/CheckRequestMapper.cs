using System.Text;
using Aegis.Contracts.Wire;
using Aegis.Decision.Calls;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Policy.Values;

namespace Aegis.Decision.ExtAuthz;

/// <summary>
/// An HTTP request as an Envoy filter reports it: lower-case header keys, method, authority, path (with query), and
/// the body as bytes or, from ext_authz without pack_as_bytes, as text.
/// </summary>
public readonly record struct EnvoyHttpRequest(IReadOnlyDictionary<string, string> Headers, string Method, string Host, string Path, ReadOnlyMemory<byte> Body, string TextBody = "");

/// <summary>
/// Maps an Envoy CheckRequest to a <see cref="DecisionRequest"/> carrying the request as observed: method, authority,
/// path, headers and body. What the call is (tool, arguments, cost) is read from that later, never from a header the
/// agent sets; a malformed request becomes a named error, never an exception.
/// </summary>
public static class CheckRequestMapper
{
    /// <summary>Header carrying the agent token when the upstream needs the authorization header itself.</summary>
    public const string TokenHeader = AegisHeaders.Token;

    public const string CostHeader = AegisHeaders.CostEstimate;
    public const string OverrideHeader = AegisHeaders.Override;

    /// <summary>
    /// Maps <paramref name="check"/>; returns false with a message when the request cannot be understood. A check
    /// without <c>request.http</c> is a TLS connection from the network ext_authz filter of the transparent listener,
    /// decided on its SNI; <paramref name="sidecar"/> is the gRPC metadata naming the pod's tenant and agent.
    /// </summary>
    public static bool TryMap(CheckRequest check, out DecisionRequest request, out string error, (string? Tenant, string? Agent) sidecar = default)
    {
        var http = check.Attributes?.Request?.Http;
        if (http is null)
        {
            return TryMapTls(check, sidecar, out request, out error);
        }

        var extensions = check.Attributes!.ContextExtensions;
        return TryMap(
            new EnvoyHttpRequest(http.Headers, http.Method, http.Host, http.Path, http.RawBody.Memory, http.Body),
            extensions.TryGetValue(EnvoyContract.TenantExtension, out var tenant) ? tenant : null,
            extensions.TryGetValue(EnvoyContract.AgentExtension, out var agent) ? agent : null,
            out request,
            out error);
    }

    /// <summary>
    /// Maps a request as either Envoy filter (ext_authz, ext_proc) reports it, so both decide on the same observation.
    /// <paramref name="expectedTenant"/> and <paramref name="expectedAgent"/> are what the sidecar was configured with.
    /// </summary>
    public static bool TryMap(EnvoyHttpRequest http, string? expectedTenant, string? expectedAgent, out DecisionRequest request, out string error)
    {
        request = null!;
        var headers = http.Headers;
        decimal? cost = null;
        if (headers.TryGetValue(CostHeader, out var costText))
        {
            if (!Money.TryParse(costText, out var parsed, out var moneyError))
            {
                error = $"{CostHeader}: {moneyError}";
                return false;
            }

            cost = parsed;
        }

        var method = http.Method.ToUpperInvariant();
        request = new DecisionRequest
        {
            Token = AgentToken(headers),
            OverrideToken = headers.TryGetValue(OverrideHeader, out var overrideToken) && overrideToken.Length > 0 ? overrideToken : null,
            ExpectedTenant = expectedTenant,
            ExpectedAgent = expectedAgent,
            Observed = new ObservedRequest
            {
                Method = method,
                Authority = http.Host,
                Path = string.IsNullOrEmpty(http.Path) ? "/" : http.Path,
                Headers = headers,
                Body = http.Body.Length > 0 || http.TextBody.Length == 0 ? http.Body : Encoding.UTF8.GetBytes(http.TextBody),
                Tunnel = method == "CONNECT",
            },
            Cost = cost,
            TraceParent = headers.TryGetValue("traceparent", out var traceparent) ? traceparent : null,
        };
        error = "";
        return true;
    }

    /// <summary>
    /// A TLS connection as the network ext_authz filter reports it (docs/sidecar.md): the SNI host and the port the
    /// agent dialled. It is a tunnel (only the host is known) and carries no token: the pod's identity comes from the
    /// sidecar's gRPC metadata, which the webhook set from the pod's namespace.
    /// </summary>
    private static bool TryMapTls(CheckRequest check, (string? Tenant, string? Agent) sidecar, out DecisionRequest request, out string error)
    {
        request = null!;
        var attributes = check.Attributes;
        if (attributes?.TlsSession is null && attributes?.Destination is null)
        {
            error = "the CheckRequest has neither attributes.request.http nor a TLS session: there is nothing to decide on";
            return false;
        }

        var sni = attributes.TlsSession?.Sni is { Length: > 0 } s ? s : attributes.Destination?.Service;
        if (string.IsNullOrEmpty(sni))
        {
            error = "a TLS connection without SNI: its destination host is unknown, so no host rule can allow it";
            return false;
        }

        var port = attributes.Destination?.Address?.SocketAddress?.PortValue is { } p and > 0 ? p : 443u;
        request = new DecisionRequest
        {
            ExpectedTenant = sidecar.Tenant,
            ExpectedAgent = sidecar.Agent,
            Observed = new ObservedRequest { Method = "CONNECT", Authority = $"{sni}:{port}", Path = "", Tunnel = true },
        };
        error = "";
        return true;
    }

    /// <summary>
    /// The agent's Aegis token: <c>x-aegis-token</c>, else an <c>authorization: Bearer</c> value shaped like a compact
    /// JWS (an API key for the upstream, such as an OpenAI key, is not one and is left for the upstream).
    /// </summary>
    public static string? AgentToken(IReadOnlyDictionary<string, string> headers)
    {
        if (headers.TryGetValue(TokenHeader, out var token) && token.Length > 0)
        {
            return token;
        }

        return BearerToken(headers) is { } bearer && bearer.Count(c => c == '.') == 2 ? bearer : null;
    }

    /// <summary>The value of <c>authorization: Bearer</c>, if any.</summary>
    public static string? BearerToken(IReadOnlyDictionary<string, string> headers) =>
        headers.TryGetValue("authorization", out var value) && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? value[7..].Trim()
            : null;

    /// <summary>Whole seconds for a retry-after header, at least 1.</summary>
    public static string RetryAfterSeconds(TimeSpan wait) => Refusals.RetryAfterSeconds(wait);
}
