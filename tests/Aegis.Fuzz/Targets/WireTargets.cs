using System.Text;
using Aegis.Decision;
using Aegis.Decision.Calls;
using Aegis.Decision.ExtAuthz;
using Aegis.Decision.ExtProc;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Fuzz.Targets;

/// <summary>
/// What Envoy sends: an ext_authz CheckRequest, and an ext_proc stream of ProcessingRequests. Protobuf that does not
/// decode is the gRPC layer's to refuse (<see cref="InvalidProtocolBufferException"/>, the one exception named);
/// everything that decodes must be mapped, decided and answered without an exception, and an ext_proc answer may
/// never be the catch-all <c>internal_error</c>, which marks a bug that a try/catch hid.
/// </summary>
internal static class WireTargets
{
    public static void CheckRequest(byte[] input)
    {
        Decision.Protos.Envoy.Service.Auth.V3.CheckRequest check;
        try
        {
            check = Decision.Protos.Envoy.Service.Auth.V3.CheckRequest.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException)
        {
            return;
        }

        // The sidecar holds a real token; the agent controls the rest of the request.
        if (check.Attributes?.Request?.Http is { } http && !http.Headers.ContainsKey(CheckRequestMapper.TokenHeader))
        {
            http.Headers[CheckRequestMapper.TokenHeader] = FuzzHost.Instance.AcmeToken;
        }

        if (!CheckRequestMapper.TryMap(check, out var request, out _, ("acme", "payments-bot")))
        {
            return;
        }

        var outcome = FuzzHost.Instance.Decisions.DecidePolicyOnly(request, "fuzz");
        FuzzTarget.NoInternalError(outcome.Reason, outcome.Message);
        using (outcome.Call)
        {
            _ = CheckResponseBuilder.Build(outcome, request);
        }
    }

    public static void ExtProc(byte[] input)
    {
        var messages = new List<ProcessingRequest>();
        using (var stream = new MemoryStream(input, writable: false))
        {
            try
            {
                while (stream.Position < stream.Length && messages.Count < 64)
                {
                    messages.Add(ProcessingRequest.Parser.ParseDelimitedFrom(stream));
                }
            }
            catch (InvalidProtocolBufferException)
            {
                // What decoded before the bad message still reached the service.
            }
        }

        foreach (var message in messages)
        {
            if (message.RequestHeaders?.Headers is { } map && map.Headers.All(h => h.Key != CheckRequestMapper.TokenHeader))
            {
                map.Headers.Add(new Decision.Protos.Envoy.Config.Core.V3.HeaderValue { Key = CheckRequestMapper.TokenHeader, Value = FuzzHost.Instance.AcmeToken });
            }
        }

        var writer = new CollectingWriter();
        var service = new ExtProcService(FuzzHost.Instance.Decisions, NullLogger<ExtProcService>.Instance);
        service.Process(new ListReader(messages), writer, new FuzzCallContext()).GetAwaiter().GetResult();
        foreach (var answer in writer.Written)
        {
            if (answer.ImmediateResponse is { } immediate && immediate.Details.Contains("internal_error", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("ext_proc answered internal_error (an exception caught inside): " + immediate.Body.ToStringUtf8());
            }
        }
    }

    private sealed class ListReader(List<ProcessingRequest> messages) : IAsyncStreamReader<ProcessingRequest>
    {
        private int next = -1;

        public ProcessingRequest Current => messages[next];

        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromResult(++next < messages.Count);
    }

    private sealed class CollectingWriter : IServerStreamWriter<ProcessingResponse>
    {
        public List<ProcessingResponse> Written { get; } = [];

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(ProcessingResponse message)
        {
            Written.Add(message);
            return Task.CompletedTask;
        }
    }

    /// <summary>The gRPC call as the sidecar makes it: its metadata names the pod's tenant and agent.</summary>
    private sealed class FuzzCallContext : ServerCallContext
    {
        private readonly Metadata headers = new() { { ExtProcService.TenantMetadata, "acme" }, { ExtProcService.AgentMetadata, "payments-bot" } };

        protected override string MethodCore => "/envoy.service.ext_proc.v3.ExternalProcessor/Process";

        protected override string HostCore => "localhost";

        protected override string PeerCore => "ipv4:127.0.0.1:1";

        protected override DateTime DeadlineCore => DateTime.MaxValue;

        protected override Metadata RequestHeadersCore => headers;

        protected override CancellationToken CancellationTokenCore => CancellationToken.None;

        protected override Metadata ResponseTrailersCore { get; } = [];

        protected override Status StatusCore { get; set; }

        protected override WriteOptions? WriteOptionsCore { get; set; }

        protected override AuthContext AuthContextCore => new(null, []);

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException("no outgoing calls");

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
