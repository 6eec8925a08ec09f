using System.Text;
using Aegis.Decision.Calls;
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
    /// Answers request headers and asks, by mode override, for what this call needs next: the whole request body
    /// (<paramref name="bufferRequestBody"/>: sent when ext_authz decided sanitize, and when its decision is unknown, so
    /// a body that may need redacting is never let through unseen), and the response headers
    /// (<paramref name="processResponse"/>: a tools/list answer to filter or an LLM answer to meter), whose answer then
    /// picks the response body mode.
    /// </summary>
    public static ProcessingResponse ContinueWithModes(bool bufferRequestBody, bool processResponse)
    {
        var response = Continue(ProcessingRequest.RequestOneofCase.RequestHeaders)!;
        response.ModeOverride = new ProcessingMode
        {
            RequestHeaderMode = ProcessingMode.Types.HeaderSendMode.Send,
            ResponseHeaderMode = processResponse ? ProcessingMode.Types.HeaderSendMode.Send : ProcessingMode.Types.HeaderSendMode.Skip,
            RequestBodyMode = bufferRequestBody ? ProcessingMode.Types.BodySendMode.Buffered : ProcessingMode.Types.BodySendMode.None,
            ResponseBodyMode = ProcessingMode.Types.BodySendMode.None,
            RequestTrailerMode = ProcessingMode.Types.HeaderSendMode.Skip,
            ResponseTrailerMode = ProcessingMode.Types.HeaderSendMode.Skip,
        };
        return response;
    }

    /// <summary>The request-body-only override (<see cref="ContinueWithModes"/> without response processing).</summary>
    public static ProcessingResponse ContinueAndBufferRequestBody() => ContinueWithModes(bufferRequestBody: true, processResponse: false);

    /// <summary>
    /// Answers response headers and asks for the response body: STREAMED for an event stream (every chunk is answered,
    /// so nothing waits for the end of a long answer), BUFFERED for JSON. A body that will be rewritten loses its
    /// content-length here (Envoy then sends it chunked).
    /// </summary>
    public static ProcessingResponse ProcessResponseBody(bool streamed, bool removeContentLength)
    {
        var common = new CommonResponse();
        if (removeContentLength)
        {
            common.HeaderMutation = new HeaderMutation();
            common.HeaderMutation.RemoveHeaders.Add("content-length");
        }

        return new ProcessingResponse
        {
            ResponseHeaders = new HeadersResponse { Response = common },
            ModeOverride = new ProcessingMode
            {
                RequestHeaderMode = ProcessingMode.Types.HeaderSendMode.Send,
                ResponseHeaderMode = ProcessingMode.Types.HeaderSendMode.Send,
                RequestBodyMode = ProcessingMode.Types.BodySendMode.None,
                ResponseBodyMode = streamed ? ProcessingMode.Types.BodySendMode.Streamed : ProcessingMode.Types.BodySendMode.Buffered,
                RequestTrailerMode = ProcessingMode.Types.HeaderSendMode.Skip,
                ResponseTrailerMode = ProcessingMode.Types.HeaderSendMode.Skip,
            },
        };
    }

    /// <summary>Replaces the response body (a buffered answer, or one streamed chunk) with <paramref name="body"/>.</summary>
    public static ProcessingResponse ReplaceResponseBody(byte[] body)
    {
        return new ProcessingResponse
        {
            ResponseBody = new BodyResponse { Response = new CommonResponse { BodyMutation = new BodyMutation { Body = UnsafeByteOperations.UnsafeWrap(body) } } },
        };
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
    /// Ends the request with a local reply carrying the refusal ext_authz would send, in the call's protocol
    /// (<see cref="Refusals"/>): a JSON-RPC answer for MCP, the provider's error for LLM APIs, else Aegis's JSON.
    /// </summary>
    public static ProcessingResponse Refuse(DecisionOutcome outcome, bool rawValues)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var refusal = Refusals.For(outcome);
        var headers = new HeaderMutation();
        foreach (var (name, value) in refusal.Headers)
        {
            headers.SetHeaders.Add(Header(name, value, rawValues));
        }

        return new ProcessingResponse
        {
            ImmediateResponse = new ImmediateResponse
            {
                Status = new HttpStatus { Code = (StatusCode)refusal.Status },
                Headers = headers,
                Body = ByteString.CopyFrom(refusal.Body, Encoding.UTF8),

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
