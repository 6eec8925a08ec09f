using Aegis.Decision.Calls;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Grpc.Core;

namespace Aegis.Decision.ExtAuthz;

/// <summary><c>envoy.service.auth.v3.Authorization/Check</c>: map, decide, answer. Nothing escapes as an exception.</summary>
public sealed class ExtAuthzService(DecisionService decisions) : Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationBase
{
    public override async Task<CheckResponse> Check(CheckRequest request, ServerCallContext context)
    {
        var sidecar = (context.RequestHeaders.GetValue(Contracts.Wire.EnvoyContract.TenantMetadata), context.RequestHeaders.GetValue(Contracts.Wire.EnvoyContract.AgentMetadata));
        if (!CheckRequestMapper.TryMap(request, out var mapped, out var error, sidecar))
        {
            // Refused before any token or bundle is looked at, and still recorded: a span, metrics, an audit record.
            var refused = await decisions.RefuseAsync(Observed(request), ServerReasons.RequestMalformed, error, context.CancellationToken).ConfigureAwait(false);
            return CheckResponseBuilder.Build(refused, null);
        }

        var outcome = await decisions.DecideAsync(mapped, context.CancellationToken).ConfigureAwait(false);
        using (outcome.Call)
        {
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
            Observed = new ObservedRequest { Method = http.Method.ToUpperInvariant(), Authority = http.Host, Path = string.IsNullOrEmpty(http.Path) ? "/" : http.Path },
            TraceParent = http.Headers.TryGetValue("traceparent", out var traceparent) ? traceparent : null,
        };
    }
}
