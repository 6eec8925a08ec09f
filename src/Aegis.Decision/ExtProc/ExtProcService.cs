using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Contracts.Wire;
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
/// <c>envoy.service.ext_proc.v3.ExternalProcessor/Process</c>: replaces the buffered JSON body of a call whose decision
/// is sanitize with its redacted form, and answers every other phase untouched. It never authorizes (ext_authz did,
/// before it); where it cannot tell which redactions apply, or cannot apply them, it refuses the call. Nothing
/// escapes as an exception.
/// </summary>
/// <remarks>
/// The redactions are decided again on the buffered body with <see cref="DecisionService.DecidePolicyOnly"/>, which
/// reads and changes no state, so budgets, rate limits, single-use tokens and overrides that ext_authz charged or
/// consumed are never charged or consumed twice. ext_authz removes the agent token from the request; it hands it on
/// in its dynamic metadata, which Envoy forwards here (metadata_options) and never sends upstream.
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
                var response = Answer(message, exchange);
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

    private ProcessingResponse Answer(ProcessingRequest message, Exchange exchange)
    {
        try
        {
            exchange.Remember(message.MetadataContext);
            switch (message.RequestCase)
            {
                case Phase.RequestHeaders:
                    exchange.ReadHeaders(message.RequestHeaders.Headers);
                    return message.RequestHeaders.EndOfStream || exchange.AuthorizedEffect is { } effect && effect != DecisionJson.EffectName(Effect.Sanitize)
                        ? ProcessingResponses.Continue(Phase.RequestHeaders)!
                        : ProcessingResponses.ContinueAndBufferRequestBody();
                case Phase.RequestBody:
                    return OnRequestBody(message.RequestBody, exchange);
                case Phase.None:
                    return Refuse(exchange, ServerReasons.RequestMalformed, "a ProcessingRequest must carry one of request_headers, request_body, ...; this one carries none");
            }

            return ProcessingResponses.Continue(message.RequestCase)!;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Never let a bug forward a body that should have been redacted: the call is refused and the reason logged.
            return Refuse(exchange, "internal_error", e.GetType().Name + ": " + e.Message);
        }
    }

    private ProcessingResponse OnRequestBody(HttpBody message, Exchange exchange)
    {
        if (exchange.Headers is not { } headers)
        {
            return Refuse(exchange, ServerReasons.RequestMalformed, "request_body arrived before request_headers; the call's tool and identity are unknown");
        }

        var http = new EnvoyHttpRequest(headers, Pseudo(headers, ":method"), headers.TryGetValue(":authority", out var authority) ? authority : Pseudo(headers, "host"), Pseudo(headers, ":path"), message.Body.Memory);
        if (!CheckRequestMapper.TryMap(http, exchange.ExpectedTenant, exchange.ExpectedAgent, out var request, out var args, out var error))
        {
            args?.Dispose();
            return Refuse(exchange, ServerReasons.RequestMalformed, error);
        }

        using (args)
        {
            if (request.Token is null && exchange.MetadataToken is { } token)
            {
                request = request with { Token = token };
            }

            var outcome = decisions.DecidePolicyOnly(request, exchange.DecisionId);
            if (outcome.Decision is not { } decision)
            {
                // No verified identity or no bundle: which redactions apply cannot be known, so the body may not pass.
                return Logged(ProcessingResponses.Refuse(outcome, exchange.RawValues), outcome);
            }

            if (decision.Effect != Effect.Sanitize)
            {
                if (exchange.AuthorizedEffect == DecisionJson.EffectName(Effect.Sanitize))
                {
                    // ext_authz decided on the headers it saw before rewriting them, or on an older bundle; the body
                    // must not pass unredacted because this evaluation came out differently.
                    return Refuse(exchange, ServerReasons.RedactionUnavailable, $"ext_authz decided sanitize, but the call now evaluates to {DecisionJson.EffectName(decision.Effect)}", outcome);
                }

                return ProcessingResponses.Continue(Phase.RequestBody)!;
            }

            if (message.Body.IsEmpty || decision.Redactors.Count == 0)
            {
                return ProcessingResponses.Continue(Phase.RequestBody)!;
            }

            if (!TryRedact(request, decision, message, out var redacted, out var changed))
            {
                return Refuse(exchange, ServerReasons.RedactionUnavailable, "the call is to be sanitized, but its body is not JSON, so it cannot be redacted", outcome);
            }

            // A body nothing matched in is forwarded byte for byte rather than re-serialized.
            return changed
                ? ProcessingResponses.ReplaceRequestBody(JsonSerializer.SerializeToUtf8Bytes(redacted), headers.ContainsKey("content-length"), exchange.RawValues)
                : ProcessingResponses.Continue(Phase.RequestBody)!;
        }
    }

    /// <summary>A tool call's arguments were redacted by the engine; an egress body is redacted here with the same redactors.</summary>
    private static bool TryRedact(DecisionRequest request, Aegis.Policy.Decisions.Decision decision, HttpBody message, out JsonNode? redacted, out bool changed)
    {
        if (request.Args is not null)
        {
            redacted = decision.RedactedArgs;
            changed = decision.Redactions.Count > 0;
            return true;
        }

        redacted = null;
        changed = false;
        try
        {
            using var body = JsonDocument.Parse(message.Body.Memory);
            var records = new List<RedactionRecord>();
            redacted = Redactor.RedactAll(body.RootElement, decision.Redactors, "body", records);
            changed = records.Count > 0;
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
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

    /// <summary>What one stream has learned so far: the request headers, and what ext_authz handed on in its metadata.</summary>
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

        /// <summary>ext_authz's decision id (metadata, else the header it set), so a refusal here names the same decision.</summary>
        public string DecisionId => _decisionId ??= Headers is { } h && h.TryGetValue("x-aegis-decision-id", out var id) ? id : Guid.CreateVersion7().ToString("N");

        /// <summary>Header values as text, keyed by their lower-case names; repeated headers are joined with commas, as ext_authz reports them.</summary>
        public void ReadHeaders(HeaderMap? map)
        {
            var list = map?.Headers;
            var headers = new Dictionary<string, string>(list?.Count ?? 0, StringComparer.Ordinal);
            foreach (var header in list ?? [])
            {
                var raw = !header.RawValue.IsEmpty;
                RawValues |= raw;
                var value = raw ? header.RawValue.ToStringUtf8() : header.Value;
                headers[header.Key] = headers.TryGetValue(header.Key, out var earlier) ? earlier + "," + value : value;
            }

            Headers = headers;
        }

        public void Remember(Protos.Envoy.Config.Core.V3.Metadata? metadata)
        {
            if (metadata is null || !metadata.FilterMetadata.TryGetValue(CheckResponseBuilder.MetadataNamespace, out var authz))
            {
                return;
            }

            MetadataToken = Text(authz, CheckResponseBuilder.MetadataToken) ?? MetadataToken;
            AuthorizedEffect = Text(authz, CheckResponseBuilder.MetadataEffect) ?? AuthorizedEffect;
            _decisionId = Text(authz, CheckResponseBuilder.MetadataDecisionId) ?? _decisionId;

            static string? Text(Google.Protobuf.WellKnownTypes.Struct fields, string key) =>
                fields.Fields.TryGetValue(key, out var value) && value.KindCase == Google.Protobuf.WellKnownTypes.Value.KindOneofCase.StringValue ? value.StringValue : null;
        }
    }
}
