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
            return CheckResponseBuilder.Malformed(error);
        }

        var outcome = await decisions.DecideAsync(mapped, context.CancellationToken).ConfigureAwait(false);
        using (outcome.Call)
        {
            return CheckResponseBuilder.Build(outcome, mapped);
        }
    }
}
