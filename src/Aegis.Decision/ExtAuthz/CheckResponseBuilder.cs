using System.Text.Json;
using Aegis.Contracts.Wire;
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

    public static CheckResponse Build(DecisionOutcome outcome, DecisionRequest? request)
    {
        if (outcome.Kind == OutcomeKind.Allowed)
        {
            var ok = new OkHttpResponse();
            ok.Headers.Add(Header("x-aegis-decision-id", outcome.DecisionId));
            ok.Headers.Add(Header("x-aegis-bundle-revision", outcome.Revision ?? ""));

            // The agent's own credentials for Aegis never travel on to the tool.
            ok.HeadersToRemove.Add(CheckRequestMapper.TokenHeader);
            ok.HeadersToRemove.Add(CheckRequestMapper.OverrideHeader);
            if (request?.Request?.Headers is { } headers && headers.TryGetValue("authorization", out var auth)
                && !headers.ContainsKey(CheckRequestMapper.TokenHeader) && auth.EndsWith(request.Token ?? "\0", StringComparison.Ordinal))
            {
                ok.HeadersToRemove.Add("authorization");
            }

            if (outcome.Effect == Effect.Sanitize && outcome.Decision is { Redactors.Count: > 0 } decision && request?.Request?.Headers is { } all)
            {
                foreach (var (name, value) in all)
                {
                    if (name.StartsWith("x-aegis-", StringComparison.Ordinal) || name is "authorization" or ":path" or ":authority" or ":method")
                    {
                        continue;
                    }

                    var redacted = value;
                    var records = new List<RedactionRecord>();
                    foreach (var redactor in decision.Redactors)
                    {
                        redacted = redactor.RedactString(redacted, $"headers.{name}", records);
                    }

                    if (redacted != value)
                    {
                        ok.Headers.Add(Header(name, redacted));
                    }
                }
            }

            var metadata = new Struct();
            metadata.Fields[MetadataDecisionId] = Value.ForString(outcome.DecisionId);
            metadata.Fields[MetadataEffect] = Value.ForString(DecisionJson.EffectName(outcome.Effect));
            if (request?.Token is { } token)
            {
                metadata.Fields[MetadataToken] = Value.ForString(token);
            }

            return new CheckResponse { Status = new Status { Code = GrpcOk }, OkResponse = ok, DynamicMetadata = metadata };
        }

        var (grpc, http) = outcome.Kind switch
        {
            OutcomeKind.Unauthenticated => (GrpcUnauthenticated, StatusCode.Unauthorized),
            OutcomeKind.Limited => (GrpcPermissionDenied, StatusCode.TooManyRequests),
            _ => (GrpcPermissionDenied, StatusCode.Forbidden),
        };
        var denied = new DeniedHttpResponse
        {
            Status = new HttpStatus { Code = http },
            Body = DenialBody(outcome),
        };
        denied.Headers.Add(Header("content-type", "application/json"));
        denied.Headers.Add(Header("x-aegis-decision-id", outcome.DecisionId));
        if (outcome.Kind == OutcomeKind.ApprovalRequired)
        {
            // x-aegis-approval names the ApprovalRequest to fetch (GET /v1/approvals/{name} on the operator);
            // the rule that asked for it travels separately.
            denied.Headers.Add(Header("x-aegis-approval-rule", outcome.Rule is null ? outcome.Policy ?? "" : $"{outcome.Policy}/{outcome.Rule}"));
            if (outcome.ApprovalRequest is { } name)
            {
                denied.Headers.Add(Header("x-aegis-approval", name));
            }
        }

        if (outcome.RetryAfter is { } wait)
        {
            denied.Headers.Add(Header("retry-after", CheckRequestMapper.RetryAfterSeconds(wait)));
        }

        if (outcome.Kind == OutcomeKind.Unauthenticated)
        {
            denied.Headers.Add(Header("www-authenticate", "Bearer error=\"invalid_token\""));
        }

        return new CheckResponse { Status = new Status { Code = grpc, Message = outcome.Reason }, DeniedResponse = denied };
    }

    /// <summary>The JSON body of a refusal: <c>{decision_id, reason, policy, rule}</c> (and message, approval_request, approval_error when there are).</summary>
    public static string DenialBody(DecisionOutcome outcome)
    {
        var body = new Dictionary<string, string?>
        {
            ["decision_id"] = outcome.DecisionId,
            ["reason"] = outcome.Reason,
            ["policy"] = outcome.Policy,
            ["rule"] = outcome.Rule,
        };
        if (outcome.Message is not null)
        {
            body["message"] = outcome.Message;
        }

        if (outcome.ApprovalRequest is not null)
        {
            body["approval_request"] = outcome.ApprovalRequest;
        }

        if (outcome.ApprovalError is not null)
        {
            body["approval_error"] = outcome.ApprovalError;
        }

        return JsonSerializer.Serialize(body);
    }

    private static HeaderValueOption Header(string key, string value) => new()
    {
        Header = new HeaderValue { Key = key, Value = value },
        AppendAction = HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd,
    };
}
