using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Policy.Decisions;
using Grpc.Core;

namespace Aegis.Decision.ExtAuthz;

/// <summary><c>envoy.service.auth.v3.Authorization/Check</c>: map, decide, answer. Nothing escapes as an exception.</summary>
public sealed class ExtAuthzService(DecisionService decisions) : Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationBase
{
    public override async Task<CheckResponse> Check(CheckRequest request, ServerCallContext context)
    {
        var mappedOk = CheckRequestMapper.TryMap(request, out var mapped, out var body, out var error);
        using (body)
        {
            if (!mappedOk)
            {
                // Refused before any token or bundle is looked at, and still recorded: a span, metrics, an audit record.
                var refused = await decisions.RefuseAsync(Observed(request), ServerReasons.RequestMalformed, error, context.CancellationToken).ConfigureAwait(false);
                return CheckResponseBuilder.Build(refused, null);
            }

            var outcome = await decisions.DecideAsync(mapped, context.CancellationToken).ConfigureAwait(false);
            return CheckResponseBuilder.Build(outcome, mapped);
        }
    }

    /// <summary>What can be said of a request that could not be mapped: where it went and its trace, never its body or token.</summary>
    private static DecisionRequest Observed(CheckRequest request)
    {
        var http = request.Attributes?.Request?.Http;
        if (http is null)
        {
            return new DecisionRequest();
        }

        return new DecisionRequest
        {
            Tool = http.Headers.TryGetValue(CheckRequestMapper.ToolHeader, out var tool) && tool.Length > 0 ? tool : null,
            Request = new EgressRequest(http.Method.ToUpperInvariant(), http.Host, string.IsNullOrEmpty(http.Path) ? "/" : http.Path, new Dictionary<string, string>()),
            TraceParent = http.Headers.TryGetValue("traceparent", out var traceparent) ? traceparent : null,
        };
    }
}
