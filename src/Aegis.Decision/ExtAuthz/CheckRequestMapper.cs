using System.Globalization;
using System.Text.Json;
using Aegis.Contracts.Wire;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Policy.Decisions;
using Aegis.Policy.Values;

namespace Aegis.Decision.ExtAuthz;

/// <summary>
/// An HTTP request as an Envoy filter reports it: lower-case header keys, method, authority, path (with query), and
/// the body as bytes or, from ext_authz without pack_as_bytes, as text.
/// </summary>
public readonly record struct EnvoyHttpRequest(IReadOnlyDictionary<string, string> Headers, string Method, string Host, string Path, ReadOnlyMemory<byte> Body, string TextBody = "");

/// <summary>Maps an Envoy CheckRequest to a <see cref="DecisionRequest"/>; a malformed one becomes a named error, never an exception.</summary>
public static class CheckRequestMapper
{
    /// <summary>Header carrying the agent token when authorization is needed for the upstream.</summary>
    public const string TokenHeader = AegisHeaders.Token;
    public const string ToolHeader = "x-aegis-tool";
    public const string CostHeader = AegisHeaders.CostEstimate;
    public const string OverrideHeader = AegisHeaders.Override;

    /// <summary>
    /// Maps <paramref name="check"/>; returns false with a message when the request cannot be understood. The
    /// arguments are read in place from <paramref name="body"/>, which the caller disposes after answering.
    /// </summary>
    public static bool TryMap(CheckRequest check, out DecisionRequest request, out JsonDocument? body, out string error)
    {
        var http = check.Attributes?.Request?.Http;
        if (http is null)
        {
            request = null!;
            body = null;
            error = "the CheckRequest has no attributes.request.http";
            return false;
        }

        var extensions = check.Attributes!.ContextExtensions;
        return TryMap(
            new EnvoyHttpRequest(http.Headers, http.Method, http.Host, http.Path, http.RawBody.Memory, http.Body),
            extensions.TryGetValue(EnvoyContract.TenantExtension, out var tenant) ? tenant : null,
            extensions.TryGetValue(EnvoyContract.AgentExtension, out var agent) ? agent : null,
            out request,
            out body,
            out error);
    }

    /// <summary>
    /// Maps a request as either Envoy filter (ext_authz, ext_proc) reports it, so both decide on the same inputs.
    /// <paramref name="expectedTenant"/> and <paramref name="expectedAgent"/> are what the sidecar was configured with.
    /// </summary>
    public static bool TryMap(EnvoyHttpRequest http, string? expectedTenant, string? expectedAgent, out DecisionRequest request, out JsonDocument? body, out string error)
    {
        request = null!;
        body = null;
        var headers = http.Headers;
        var token = headers.TryGetValue(TokenHeader, out var t) ? t : BearerToken(headers);
        string? tool = headers.TryGetValue(ToolHeader, out var toolHeader) && toolHeader.Length > 0 ? toolHeader : null;
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

        JsonElement? args = null;
        if (tool is not null && (http.Body.Length > 0 || http.TextBody.Length > 0))
        {
            // A tool call's body is its JSON arguments; a plain egress body is forwarded untouched.
            try
            {
                body = http.Body.Length > 0 ? JsonDocument.Parse(http.Body) : JsonDocument.Parse(http.TextBody);
                if (body.RootElement.ValueKind != JsonValueKind.Object)
                {
                    error = "the tool call's body must be a JSON object of arguments";
                    return false;
                }

                args = body.RootElement;
            }
            catch (JsonException e)
            {
                error = "the tool call's body is not valid JSON: " + e.Message;
                return false;
            }
        }

        request = new DecisionRequest
        {
            Token = token,
            OverrideToken = headers.TryGetValue(OverrideHeader, out var overrideToken) && overrideToken.Length > 0 ? overrideToken : null,
            ExpectedTenant = expectedTenant,
            ExpectedAgent = expectedAgent,
            Tool = tool,
            Args = args,
            Request = new EgressRequest(http.Method.ToUpperInvariant(), http.Host, string.IsNullOrEmpty(http.Path) ? "/" : http.Path, headers),
            Cost = cost,
            TraceParent = headers.TryGetValue("traceparent", out var traceparent) ? traceparent : null,
        };
        error = "";
        return true;
    }

    private static string? BearerToken(IReadOnlyDictionary<string, string> headers) =>
        headers.TryGetValue("authorization", out var value) && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? value[7..].Trim()
            : null;

    /// <summary>Whole seconds for a retry-after header, at least 1.</summary>
    public static string RetryAfterSeconds(TimeSpan wait) =>
        Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
