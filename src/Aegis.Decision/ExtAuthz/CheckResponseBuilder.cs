using System.Globalization;
using System.Text.Json.Nodes;
using Aegis.Contracts.Wire;
using Aegis.Decision.Calls;
using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Protos.Envoy.Type.V3;
using Aegis.Policy.Decisions;
using Aegis.Policy.Redaction;
using Aegis.Policy.Resources;
using Google.Protobuf.WellKnownTypes;
using Status = Aegis.Decision.Protos.Google.Rpc.Status;

namespace Aegis.Decision.ExtAuthz;

/// <summary>Builds the Envoy CheckResponse for an outcome (REFERENCE.md §1).</summary>
public static class CheckResponseBuilder
{
    private const int GrpcOk = 0;
    private const int GrpcPermissionDenied = 7;
    private const int GrpcUnauthenticated = 16;

    /// <summary>The dynamic metadata namespace Envoy's ext_authz filter stores an OK response's metadata under.</summary>
    public const string MetadataNamespace = EnvoyContract.ExtAuthzMetadataNamespace;

    public const string MetadataDecisionId = "decision_id";
    public const string MetadataEffect = "effect";

    /// <summary>
    /// The agent token, for ext_proc: ext_authz removes it from the request, and dynamic metadata is the one way to
    /// hand it to a later filter without sending it upstream.
    /// </summary>
    public const string MetadataToken = "token";

    /// <summary>Who was decided for (trusted: only ext_authz writes this namespace), so ext_proc needs no token to process the answer.</summary>
    public const string MetadataTenant = "tenant";

    public const string MetadataAgent = "agent_id";
    public const string MetadataToolServer = "tool_server";

    /// <summary>What the answer needs: <see cref="ResponseFilterToolsList"/> or <see cref="ResponseMeterUsage"/>.</summary>
    public const string MetadataResponse = "response";

    public const string ResponseFilterToolsList = "filter_tools_list";
    public const string ResponseMeterUsage = "meter_usage";

    /// <summary>The MCP request id (raw JSON) whose answer a stream's tools/list filter looks for.</summary>
    public const string MetadataMcpId = "mcp_id";

    /// <summary>The reservation a metered answer settles, and the token prices it settles at (decimal strings, USD per million).</summary>
    public const string MetadataReservation = "reservation_id";

    public const string MetadataInputPer1M = "input_per_1m";
    public const string MetadataOutputPer1M = "output_per_1m";

    /// <summary>Set on the upstream request when the sidecar must originate TLS (a plain-HTTP request to an https ToolServer).</summary>
    public const string UpstreamTlsHeader = AegisHeaders.UpstreamTls;

    public static CheckResponse Build(DecisionOutcome outcome, DecisionRequest? request)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (outcome.Kind == OutcomeKind.Allowed)
        {
            return new CheckResponse { Status = new Status { Code = GrpcOk }, OkResponse = Ok(outcome, request), DynamicMetadata = Metadata(outcome, request) };
        }

        var refusal = Refusals.For(outcome);
        var denied = new DeniedHttpResponse { Status = new HttpStatus { Code = (StatusCode)refusal.Status }, Body = refusal.Body };
        foreach (var (name, value) in refusal.Headers)
        {
            denied.Headers.Add(Header(name, value));
        }

        var grpc = outcome.Kind == OutcomeKind.Unauthenticated ? GrpcUnauthenticated : GrpcPermissionDenied;
        return new CheckResponse { Status = new Status { Code = grpc, Message = outcome.Reason }, DeniedResponse = denied };
    }

    private static OkHttpResponse Ok(DecisionOutcome outcome, DecisionRequest? request)
    {
        var ok = new OkHttpResponse();
        ok.Headers.Add(Header(AegisHeaders.DecisionId, outcome.DecisionId));
        ok.Headers.Add(Header(AegisHeaders.BundleRevision, outcome.Revision ?? ""));
        var observed = request?.Observed;
        var headers = observed?.Headers ?? request?.Request?.Headers;

        // Nothing the agent set for Aegis travels on to the tool: its token, overrides, estimates, or any other x-aegis-*.
        foreach (var name in headers?.Keys ?? [])
        {
            if (name.StartsWith(AegisHeaders.Prefix, StringComparison.Ordinal) && name is not AegisHeaders.DecisionId and not AegisHeaders.BundleRevision)
            {
                ok.HeadersToRemove.Add(name);
            }
        }

        if (headers is not null && request?.Token is { } token && CheckRequestMapper.BearerToken(headers) == token && outcome.Agent?.Issuer != ServerReasons.SidecarIssuer)
        {
            ok.HeadersToRemove.Add("authorization");
        }

        if (outcome.Call is { Server.UpstreamTls: true } call && call.Kind != CallKind.Refused && observed is { Tunnel: false })
        {
            ok.Headers.Add(Header(UpstreamTlsHeader, "true"));
        }

        if (outcome.Effect == Effect.Sanitize && outcome.Decision is { Redactors.Count: > 0 } decision && headers is not null)
        {
            RedactHeaders(ok, decision, headers);

            // Query arguments are rewritten here; a body is rewritten by ext_proc.
            if (outcome.Call is { ArgsInQuery: true } && decision.RedactedArgs is JsonObject redacted && outcome.Decision.Redactions.Count > 0)
            {
                foreach (var (name, value) in redacted)
                {
                    if (value is JsonValue text && text.TryGetValue<string>(out var s))
                    {
                        ok.QueryParametersToSet.Add(new QueryParameter { Key = name, Value = s });
                    }
                }
            }
        }

        return ok;
    }

    /// <summary>Headers a sanitize rule names are removed (or replaced); detectors run over the value of every other one.</summary>
    private static void RedactHeaders(OkHttpResponse ok, Aegis.Policy.Decisions.Decision decision, IReadOnlyDictionary<string, string> headers)
    {
        foreach (var (name, value) in headers)
        {
            if (name.StartsWith(AegisHeaders.Prefix, StringComparison.Ordinal) || name.StartsWith(':') || name == "host")
            {
                continue;
            }

            if (decision.Redactors.SelectMany(r => r.Headers).FirstOrDefault(h => h.Name == name) is { } listed)
            {
                if (listed.Replacement is null)
                {
                    ok.HeadersToRemove.Add(name);
                }
                else
                {
                    ok.Headers.Add(Header(name, listed.Replacement));
                }

                continue;
            }

            if (name == "authorization")
            {
                continue;
            }

            var redacted = value;
            var records = new List<RedactionRecord>();
            foreach (var redactor in decision.Redactors)
            {
                redacted = redactor.RedactString(redacted, $"headers.{name}", records, name);
            }

            if (redacted != value)
            {
                ok.Headers.Add(Header(name, redacted));
            }
        }
    }

    private static Struct Metadata(DecisionOutcome outcome, DecisionRequest? request)
    {
        var metadata = new Struct();
        void Set(string key, string? value)
        {
            if (value is not null)
            {
                metadata.Fields[key] = Value.ForString(value);
            }
        }

        Set(MetadataDecisionId, outcome.DecisionId);
        Set(MetadataEffect, DecisionJson.EffectName(outcome.Effect));
        Set(MetadataToken, request?.Token);
        Set(MetadataTenant, outcome.Agent?.Tenant);
        Set(MetadataAgent, outcome.Agent?.AgentId);
        if (ResponseTicket.From(outcome) is { } ticket)
        {
            Set(MetadataToolServer, ticket.ToolServer);
            Set(MetadataResponse, ticket.Handling == ResponseHandling.FilterToolsList ? ResponseFilterToolsList : ResponseMeterUsage);
            Set(MetadataMcpId, ticket.McpId);
            Set(MetadataReservation, ticket.Reservation);
            Set(MetadataInputPer1M, ticket.Prices?.InputPer1M.ToString(CultureInfo.InvariantCulture));
            Set(MetadataOutputPer1M, ticket.Prices?.OutputPer1M.ToString(CultureInfo.InvariantCulture));
        }

        return metadata;
    }

    private static HeaderValueOption Header(string key, string value) => new()
    {
        Header = new HeaderValue { Key = key, Value = value },
        AppendAction = HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd,
    };

    /// <summary>The JSON body of an Aegis refusal (<see cref="Refusals.AegisBody"/>).</summary>
    public static string DenialBody(DecisionOutcome outcome) => Refusals.AegisBody(outcome);

    /// <summary>
    /// The ticket ext_authz wrote into its dynamic metadata (<see cref="Metadata"/>), read back by ext_proc; null when
    /// the answer needs nothing, or the metadata is not Aegis's.
    /// </summary>
    public static ResponseTicket? Ticket(Struct? fields)
    {
        var handling = Text(fields, MetadataResponse) switch
        {
            ResponseFilterToolsList => ResponseHandling.FilterToolsList,
            ResponseMeterUsage => ResponseHandling.MeterUsage,
            _ => ResponseHandling.None,
        };
        if (handling == ResponseHandling.None || Text(fields, MetadataTenant) is not { } tenant || Text(fields, MetadataAgent) is not { } agent)
        {
            return null;
        }

        Aegis.Policy.Tools.ModelPrice? prices = null;
        if (decimal.TryParse(Text(fields, MetadataInputPer1M), NumberStyles.Number, CultureInfo.InvariantCulture, out var input)
            && decimal.TryParse(Text(fields, MetadataOutputPer1M), NumberStyles.Number, CultureInfo.InvariantCulture, out var output))
        {
            prices = new Aegis.Policy.Tools.ModelPrice("", input, output);
        }

        return new ResponseTicket
        {
            Handling = handling,
            DecisionId = Text(fields, MetadataDecisionId) ?? "",
            Tenant = tenant,
            AgentId = agent,
            ToolServer = Text(fields, MetadataToolServer),
            McpId = Text(fields, MetadataMcpId),
            Reservation = Text(fields, MetadataReservation),
            Prices = prices,
        };
    }

    /// <summary>The dynamic metadata string field <paramref name="key"/>, if set.</summary>
    public static string? Text(Struct? fields, string key) =>
        fields is not null && fields.Fields.TryGetValue(key, out var value) && value.KindCase == Value.KindOneofCase.StringValue ? value.StringValue : null;
}
