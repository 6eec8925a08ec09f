using System.Text;
using Aegis.Decision.ExtAuthz;
using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Extensions.Filters.Http.ExtProc.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Aegis.Decision.Protos.Envoy.Type.V3;
using Google.Protobuf;

namespace Aegis.Decision.ExtProc;

/// <summary>Builds the ProcessingResponse that answers each ext_proc phase (REFERENCE.md §1, ext_proc).</summary>
public static class ProcessingResponses
{
    /// <summary>
    /// The answer that leaves <paramref name="phase"/> untouched, or null for a message that carries no phase.
    /// Envoy waits for exactly one answer per message, so every phase has one.
    /// </summary>
    public static ProcessingResponse? Continue(ProcessingRequest.RequestOneofCase phase) => phase switch
    {
        ProcessingRequest.RequestOneofCase.RequestHeaders => new ProcessingResponse { RequestHeaders = new HeadersResponse { Response = new CommonResponse() } },
        ProcessingRequest.RequestOneofCase.ResponseHeaders => new ProcessingResponse { ResponseHeaders = new HeadersResponse { Response = new CommonResponse() } },
        ProcessingRequest.RequestOneofCase.RequestBody => new ProcessingResponse { RequestBody = new BodyResponse { Response = new CommonResponse() } },
        ProcessingRequest.RequestOneofCase.ResponseBody => new ProcessingResponse { ResponseBody = new BodyResponse { Response = new CommonResponse() } },
        ProcessingRequest.RequestOneofCase.RequestTrailers => new ProcessingResponse { RequestTrailers = new TrailersResponse() },
        ProcessingRequest.RequestOneofCase.ResponseTrailers => new ProcessingResponse { ResponseTrailers = new TrailersResponse() },
        _ => null,
    };

    /// <summary>
    /// Answers request headers and asks for the whole request body next (mode override). Sent when ext_authz decided
    /// sanitize, and when its decision is unknown (no forwarded metadata): a body that may need redacting is never
    /// let through unseen, whatever the filter's default body mode.
    /// </summary>
    public static ProcessingResponse ContinueAndBufferRequestBody()
    {
        var response = Continue(ProcessingRequest.RequestOneofCase.RequestHeaders)!;
        response.ModeOverride = new ProcessingMode
        {
            RequestHeaderMode = ProcessingMode.Types.HeaderSendMode.Send,
            ResponseHeaderMode = ProcessingMode.Types.HeaderSendMode.Skip,
            RequestBodyMode = ProcessingMode.Types.BodySendMode.Buffered,
            ResponseBodyMode = ProcessingMode.Types.BodySendMode.None,
            RequestTrailerMode = ProcessingMode.Types.HeaderSendMode.Skip,
            ResponseTrailerMode = ProcessingMode.Types.HeaderSendMode.Skip,
        };
        return response;
    }

    /// <summary>
    /// Replaces the buffered request body with <paramref name="body"/>. When the request declared a content-length it
    /// is set to the new length in the same answer: in BUFFERED mode Envoy rejects a body whose length disagrees.
    /// </summary>
    public static ProcessingResponse ReplaceRequestBody(byte[] body, bool setContentLength, bool rawValues)
    {
        var common = new CommonResponse { BodyMutation = new BodyMutation { Body = UnsafeByteOperations.UnsafeWrap(body) } };
        if (setContentLength)
        {
            common.HeaderMutation = new HeaderMutation();
            common.HeaderMutation.SetHeaders.Add(Header("content-length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), rawValues));
        }

        return new ProcessingResponse { RequestBody = new BodyResponse { Response = common } };
    }

    /// <summary>
    /// Ends the request with a local reply carrying the JSON refusal ext_authz would send
    /// (<c>{decision_id, reason, policy, rule, message}</c>): 401 for token problems, 403 otherwise.
    /// </summary>
    public static ProcessingResponse Refuse(DecisionOutcome outcome, bool rawValues)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var headers = new HeaderMutation();
        headers.SetHeaders.Add(Header("content-type", "application/json", rawValues));
        headers.SetHeaders.Add(Header("x-aegis-decision-id", outcome.DecisionId, rawValues));
        return new ProcessingResponse
        {
            ImmediateResponse = new ImmediateResponse
            {
                Status = new HttpStatus { Code = outcome.Kind == OutcomeKind.Unauthenticated ? StatusCode.Unauthorized : StatusCode.Forbidden },
                Headers = headers,
                Body = ByteString.CopyFrom(CheckResponseBuilder.DenialBody(outcome), Encoding.UTF8),

                // Shows in access logs as %RESPONSE_CODE_DETAILS%, which takes no spaces; reasons have none.
                Details = "aegis_" + outcome.Reason,
            },
        };
    }

    // Envoy reads set headers from raw_value or value depending on its send_header_raw_value feature, and refuses
    // a header that sets both: answer in the field the request's headers came in.
    private static HeaderValueOption Header(string key, string value, bool rawValues) => new()
    {
        Header = rawValues ? new HeaderValue { Key = key, RawValue = ByteString.CopyFromUtf8(value) } : new HeaderValue { Key = key, Value = value },
        AppendAction = HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd,
    };
}
