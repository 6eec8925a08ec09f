using System.Globalization;
using System.Text.Json;
using Aegis.Contracts.Wire;
using Aegis.Decision.Calls;
using Aegis.Decision.ExtAuthz;
using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Aegis.Policy.Decisions;
using Aegis.Policy.Redaction;
using Aegis.Policy.Resources;
using Grpc.Core;
using Phase = Aegis.Decision.Protos.Envoy.Service.ExtProc.V3.ProcessingRequest.RequestOneofCase;

namespace Aegis.Decision.ExtProc;

/// <summary>
/// <c>envoy.service.ext_proc.v3.ExternalProcessor/Process</c>: on the request, replaces the buffered body of a call
/// whose decision is sanitize with its redacted form; on the response, filters MCP tools/list answers to the tools
/// the agent could ever call, and reads LLM usage to settle the call's reservation. It never authorizes (ext_authz
/// did, before it); where it cannot tell which redactions apply, or cannot apply them, it refuses the call.
/// Nothing escapes as an exception.
/// </summary>
/// <remarks>
/// Redactions are decided again on the buffered body with <see cref="DecisionService.DecidePolicyOnly"/>, which
/// reads and changes no state, so budgets, rate limits, single-use tokens and overrides that ext_authz charged or
/// consumed are never charged or consumed twice. ext_authz hands on who it decided for, what the answer needs and
/// the reservation in its dynamic metadata, which Envoy forwards here (metadata_options) and which the agent cannot
/// set; response processing is asked for with a mode override in the answer to the request headers.
/// </remarks>
public sealed partial class ExtProcService(DecisionService decisions, ILogger<ExtProcService> logger) : ExternalProcessor.ExternalProcessorBase
{
    /// <summary>gRPC metadata (the ext_proc grpc_service's initial_metadata) naming the sidecar's tenant, like ext_authz's context extension.</summary>
    public const string TenantMetadata = EnvoyContract.TenantMetadata;

    /// <summary>gRPC metadata naming the sidecar's agent, like ext_authz's agent_id context extension.</summary>
    public const string AgentMetadata = EnvoyContract.AgentMetadata;

    public override async Task Process(IAsyncStreamReader<ProcessingRequest> requestStream, IServerStreamWriter<ProcessingResponse> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        var exchange = new Exchange(context.RequestHeaders.GetValue(TenantMetadata), context.RequestHeaders.GetValue(AgentMetadata));
        try
        {
            while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
            {
                var message = requestStream.Current;
                var response = await AnswerAsync(message, exchange, context.CancellationToken).ConfigureAwait(false);
                if (!message.ObservabilityMode)
                {
                    await responseStream.WriteAsync(response, context.CancellationToken).ConfigureAwait(false);
                }

                if (response.ResponseCase == ProcessingResponse.ResponseOneofCase.ImmediateResponse)
                {
                    // Envoy ignores everything after a local reply; closing the stream is all that is left.
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // Envoy reset the stream (the request ended or was cancelled); there is nobody left to answer. Any other
            // failure, such as a body over the message size limit, must end the call with an error status: Envoy
            // forwards the request unprocessed when the stream closes cleanly, and fails it on an error.
            LogStreamEnded(logger, e);
        }
    }

    private async Task<ProcessingResponse> AnswerAsync(ProcessingRequest message, Exchange exchange, CancellationToken cancellationToken)
    {
        try
        {
            exchange.Remember(message.MetadataContext);
            switch (message.RequestCase)
            {
                case Phase.RequestHeaders:
                    exchange.ReadHeaders(message.RequestHeaders.Headers);
                    return OnRequestHeaders(message.RequestHeaders, exchange);
                case Phase.RequestBody:
                    return OnRequestBody(message.RequestBody, exchange);
                case Phase.ResponseHeaders:
                    return OnResponseHeaders(message.ResponseHeaders, exchange);
                case Phase.ResponseBody:
                    return await OnResponseBodyAsync(message.ResponseBody, exchange, cancellationToken).ConfigureAwait(false);
                case Phase.None:
                    return Refuse(exchange, ServerReasons.RequestMalformed, "a ProcessingRequest must carry one of request_headers, request_body, ...; this one carries none");
            }

            return ProcessingResponses.Continue(message.RequestCase)!;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Never let a bug forward a body that should have been redacted or filtered: refused, the reason logged.
            return Refuse(exchange, "internal_error", e.GetType().Name + ": " + e.Message);
        }
    }

    private static ProcessingResponse OnRequestHeaders(HttpHeaders headers, Exchange exchange)
    {
        // A body that may need redacting is never let through unseen: buffered when ext_authz said sanitize, and when
        // its decision is unknown (no forwarded metadata: a misconfigured filter).
        var bufferBody = !headers.EndOfStream && (exchange.AuthorizedEffect is null || exchange.AuthorizedEffect == DecisionJson.EffectName(Effect.Sanitize));
        var processResponse = exchange.Ticket is not null;
        return bufferBody || processResponse
            ? ProcessingResponses.ContinueWithModes(bufferBody, processResponse)
            : ProcessingResponses.Continue(Phase.RequestHeaders)!;
    }

    private ProcessingResponse OnRequestBody(HttpBody message, Exchange exchange)
    {
        if (exchange.Headers is not { } headers)
        {
            return Refuse(exchange, ServerReasons.RequestMalformed, "request_body arrived before request_headers; the call's tool and identity are unknown");
        }

        var http = new EnvoyHttpRequest(headers, Pseudo(headers, ":method"), headers.TryGetValue(":authority", out var authority) ? authority : Pseudo(headers, "host"), Pseudo(headers, ":path"), message.Body.Memory);
        if (!CheckRequestMapper.TryMap(http, exchange.ExpectedTenant, exchange.ExpectedAgent, out var request, out var error))
        {
            return Refuse(exchange, ServerReasons.RequestMalformed, error);
        }

        if (request.Token is null && exchange.MetadataToken is { } token)
        {
            request = request with { Token = token };
        }

        var outcome = decisions.DecidePolicyOnly(request, exchange.DecisionId);
        using (outcome.Call)
        {
            if (outcome.Decision is not { } decision)
            {
                // No verified identity, no bundle, or a call that cannot be read: the body may not pass.
                return Logged(ProcessingResponses.Refuse(outcome, exchange.RawValues), outcome);
            }

            if (exchange.AuthorizedEffect is null && outcome.Call?.Response is ResponseHandling.FilterToolsList)
            {
                // Without ext_authz's metadata the answer was never asked for, so it could not be filtered.
                return Refuse(exchange, ResponseProcessor.Unprocessable, "this call's answer must be filtered, but ext_authz's metadata did not reach ext_proc (metadata_options)", outcome);
            }

            if (decision.Effect != Effect.Sanitize)
            {
                if (exchange.AuthorizedEffect == DecisionJson.EffectName(Effect.Sanitize))
                {
                    // ext_authz decided on the request it saw, or on an older bundle; the body must not pass
                    // unredacted because this evaluation came out differently.
                    return Refuse(exchange, ServerReasons.RedactionUnavailable, $"ext_authz decided sanitize, but the call now evaluates to {DecisionJson.EffectName(decision.Effect)}", outcome);
                }

                return ProcessingResponses.Continue(Phase.RequestBody)!;
            }

            if (message.Body.IsEmpty || decision.Redactors.Count == 0)
            {
                return ProcessingResponses.Continue(Phase.RequestBody)!;
            }

            if (!TryRedact(outcome.Call, decision, message, out var redacted))
            {
                return Refuse(exchange, ServerReasons.RedactionUnavailable, "the call is to be sanitized, but its body is not JSON, so it cannot be redacted", outcome);
            }

            // A body nothing matched in is forwarded byte for byte rather than re-serialized.
            return redacted is null
                ? ProcessingResponses.Continue(Phase.RequestBody)!
                : ProcessingResponses.ReplaceRequestBody(redacted, headers.ContainsKey("content-length"), exchange.RawValues);
        }
    }

    /// <summary>A tool call's arguments were redacted by the engine; an egress body is redacted here with the same redactors.</summary>
    private static bool TryRedact(ObservedCall? call, Aegis.Policy.Decisions.Decision decision, HttpBody message, out byte[]? redacted)
    {
        redacted = null;
        if (call is { Kind: CallKind.Tool, ArgsInQuery: false })
        {
            if (decision.Redactions.Count > 0)
            {
                redacted = call.WithArgs(decision.RedactedArgs);
            }

            return true;
        }

        try
        {
            using var body = JsonDocument.Parse(message.Body.Memory);
            var records = new List<RedactionRecord>();
            var node = Redactor.RedactAll(body.RootElement, decision.Redactors, "body", records);
            if (records.Count > 0)
            {
                redacted = JsonSerializer.SerializeToUtf8Bytes(node);
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private ProcessingResponse OnResponseHeaders(HttpHeaders message, Exchange exchange)
    {
        if (exchange.Ticket is not { } ticket || message.EndOfStream)
        {
            return ProcessingResponses.Continue(Phase.ResponseHeaders)!;
        }

        var headers = Exchange.Read(message.Headers, out _);
        var status = headers.TryGetValue(":status", out var s) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : 0;
        var processor = exchange.Processor = new ResponseProcessor(decisions, ticket, exchange.Via());
        var start = processor.Start(status, headers.TryGetValue("content-type", out var type) ? type : null);
        return start switch
        {
            { Refusal: { } refusal } => Refuse(exchange, ResponseProcessor.Unprocessable, refusal),
            { Mode: ResponseBodyMode.None } => ProcessingResponses.Continue(Phase.ResponseHeaders)!,
            _ => ProcessingResponses.ProcessResponseBody(streamed: start.Mode == ResponseBodyMode.Streamed, removeContentLength: start.RemoveContentLength),
        };
    }

    private async Task<ProcessingResponse> OnResponseBodyAsync(HttpBody message, Exchange exchange, CancellationToken cancellationToken)
    {
        if (exchange.Processor is not { } processor)
        {
            return ProcessingResponses.Continue(Phase.ResponseBody)!;
        }

        var chunk = await processor.ProcessAsync(message.Body.Memory, message.EndOfStream, cancellationToken).ConfigureAwait(false);
        if (processor.Settlement is { } settled && !exchange.Logged)
        {
            exchange.Logged = true;
            LogSettled(logger, exchange.DecisionId, processor.Ticket.Reservation ?? "", settled.Reason ?? "settled");
        }

        return chunk switch
        {
            { Refusal: { } refusal } => Refuse(exchange, ResponseProcessor.Unprocessable, refusal),
            { Replacement: { } replacement } => ProcessingResponses.ReplaceResponseBody(replacement),
            _ => ProcessingResponses.Continue(Phase.ResponseBody)!,
        };
    }

    private ProcessingResponse Refuse(Exchange exchange, string reason, string message, DecisionOutcome? decided = null)
    {
        var outcome = new DecisionOutcome(exchange.DecisionId, OutcomeKind.Denied, Effect.Deny, reason, decided?.Policy, decided?.Rule, message, decided?.Revision, null, decided?.Agent);
        return Logged(ProcessingResponses.Refuse(outcome, exchange.RawValues), outcome);
    }

    private ProcessingResponse Logged(ProcessingResponse response, DecisionOutcome outcome)
    {
        LogRefused(logger, outcome.DecisionId, outcome.Reason, outcome.Message ?? "");
        return response;
    }

    private static string Pseudo(Dictionary<string, string> headers, string name) => headers.TryGetValue(name, out var value) ? value : "";

    [LoggerMessage(Level = LogLevel.Warning, Message = "ext_proc refused call {DecisionId}: {Reason}: {Detail}")]
    private static partial void LogRefused(ILogger logger, string decisionId, string reason, string detail);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ext_proc stream ended before Envoy closed it")]
    private static partial void LogStreamEnded(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "call {DecisionId}: reservation {Reservation} settled from the usage its answer reported: {Outcome}")]
    private static partial void LogSettled(ILogger logger, string decisionId, string reservation, string outcome);

    /// <summary>What one stream has learned so far: the request headers, what ext_authz handed on, and the answer's state.</summary>
    private sealed class Exchange(string? expectedTenant, string? expectedAgent)
    {
        private string? _decisionId;

        public string? ExpectedTenant { get; } = expectedTenant;
        public string? ExpectedAgent { get; } = expectedAgent;
        public Dictionary<string, string>? Headers { get; private set; }

        /// <summary>Whether Envoy sent header values in raw_value, and so reads the ones it is sent back from there.</summary>
        public bool RawValues { get; private set; }

        public string? MetadataToken { get; private set; }
        public string? AuthorizedEffect { get; private set; }
        /// <summary>What the answer needs, as ext_authz handed it on; null when it needs nothing.</summary>
        public ResponseTicket? Ticket { get; private set; }

        public ResponseProcessor? Processor { get; set; }
        public bool Logged { get; set; }

        /// <summary>ext_authz's decision id (metadata, else the header it set), so a refusal here names the same decision.</summary>
        public string DecisionId => _decisionId ??= Headers is { } h && h.TryGetValue(AegisHeaders.DecisionId, out var id) ? id : Guid.CreateVersion7().ToString("N");

        public void ReadHeaders(HeaderMap? map)
        {
            Headers = Read(map, out var raw);
            RawValues |= raw;
        }

        /// <summary>Header values as text, keyed by their lower-case names; repeated headers are joined with commas, as ext_authz reports them.</summary>
        public static Dictionary<string, string> Read(HeaderMap? map, out bool rawValues)
        {
            var list = map?.Headers;
            var headers = new Dictionary<string, string>(list?.Count ?? 0, StringComparer.Ordinal);
            rawValues = false;
            foreach (var header in list ?? [])
            {
                var raw = !header.RawValue.IsEmpty;
                rawValues |= raw;
                var value = raw ? header.RawValue.ToStringUtf8() : header.Value;
                headers[header.Key] = headers.TryGetValue(header.Key, out var earlier) ? earlier + "," + value : value;
            }

            return headers;
        }

        /// <summary>The request as observed, for the egress rules a tools/list filter consults.</summary>
        public ObservedRequest Via() => new()
        {
            Method = Headers is { } h && h.TryGetValue(":method", out var m) ? m : "POST",
            Authority = Headers is { } a && a.TryGetValue(":authority", out var host) ? host : "",
            Path = Headers is { } p && p.TryGetValue(":path", out var path) ? path : "/",
            Headers = Headers ?? [],
        };

        public void Remember(Protos.Envoy.Config.Core.V3.Metadata? metadata)
        {
            if (metadata is null || !metadata.FilterMetadata.TryGetValue(CheckResponseBuilder.MetadataNamespace, out var authz))
            {
                return;
            }

            MetadataToken = CheckResponseBuilder.Text(authz, CheckResponseBuilder.MetadataToken) ?? MetadataToken;
            AuthorizedEffect = CheckResponseBuilder.Text(authz, CheckResponseBuilder.MetadataEffect) ?? AuthorizedEffect;
            _decisionId = CheckResponseBuilder.Text(authz, CheckResponseBuilder.MetadataDecisionId) ?? _decisionId;
            Ticket = CheckResponseBuilder.Ticket(authz) ?? Ticket;
        }
    }
}
