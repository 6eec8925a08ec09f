using System.Net;
using System.Text.Json;
using Aegis.Contracts.State;
using Aegis.Contracts.Wire;
using Aegis.Policy.Identity;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Tokens;

/// <summary>
/// <c>POST /v1/revocations</c>: revokes one token (by jti) or every token of an agent issued until now, for a caller
/// the cluster vouches for. The caller's own Kubernetes bearer token is checked with a TokenReview, and the user it
/// names must be allowed <see cref="Verb"/> on <see cref="Resource"/>.<see cref="Group"/> (a SubjectAccessReview,
/// resource name = the tenant, so a ClusterRole may limit someone to some tenants). The revocation goes to Redis,
/// where every decision server's revocation list picks it up within its refresh interval. 401 without valid
/// credentials, 403 without the permission, 400 for a malformed request, 503 when Kubernetes or Redis cannot be
/// reached.
/// </summary>
public sealed partial class RevocationEndpoint(IKubernetes client, ITokenIdStore? store, TimeProvider time, ILogger<RevocationEndpoint> logger)
{
    /// <summary>The API group of the permission (RBAC only: there is no such object to create).</summary>
    public const string Group = "aegis.dev";

    /// <summary>The resource of the permission.</summary>
    public const string Resource = "tokenrevocations";

    /// <summary>The verb of the permission.</summary>
    public const string Verb = "create";

    private const int MaxBodyBytes = 64 * 1024;

    /// <summary>Maps the endpoint.</summary>
    public void Map(IEndpointRouteBuilder app) => app.MapPost(TokenRevocationRequest.Path, (HttpRequest request) => HandleAsync(request.HttpContext));

    private async Task<IResult> HandleAsync(HttpContext context)
    {
        var cancellationToken = context.RequestAborted;
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header["Bearer ".Length..].Trim() is not { Length: > 0 } credential)
        {
            return Error(StatusCodes.Status401Unauthorized, "credentials_missing", "send your Kubernetes bearer token as Authorization: Bearer (aegis tokens revoke does this from your kubeconfig)");
        }

        V1UserInfo user;
        try
        {
            var review = await client.AuthenticationV1.CreateTokenReviewAsync(new V1TokenReview { Spec = new V1TokenReviewSpec { Token = credential } }, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (review.Status is not { Authenticated: true, User: { Username.Length: > 0 } reviewed })
            {
                LogRefused(logger, "(unauthenticated)", review.Status?.Error ?? "the token is not valid");
                return Error(StatusCodes.Status401Unauthorized, "credentials_invalid", "Kubernetes does not accept the bearer token");
            }

            user = reviewed;
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException)
        {
            LogKubernetesFailed(logger, "TokenReview", e.Message);
            return Error(StatusCodes.Status503ServiceUnavailable, "kubernetes_unavailable", "the credentials cannot be checked right now; retry later");
        }

        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } cap)
        {
            cap.MaxRequestBodySize = MaxBodyBytes;
        }

        TokenRevocation revocation;
        try
        {
            using var doc = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!TokenRevocationRequest.TryRead(doc.RootElement, time.GetUtcNow(), AgentTokens.RevocationRetention, user.Username, out revocation, out var error))
            {
                return Error(StatusCodes.Status400BadRequest, "request_invalid", error);
            }
        }
        catch (JsonException e)
        {
            return Error(StatusCodes.Status400BadRequest, "request_invalid", "the body is not valid JSON: " + e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Error(StatusCodes.Status413PayloadTooLarge, "request_too_large", $"a revocation request is at most {MaxBodyBytes} bytes");
        }

        try
        {
            var access = await client.AuthorizationV1.CreateSubjectAccessReviewAsync(new V1SubjectAccessReview
            {
                Spec = new V1SubjectAccessReviewSpec
                {
                    User = user.Username,
                    Groups = user.Groups,
                    Uid = user.Uid,
                    Extra = user.Extra,
                    ResourceAttributes = new V1ResourceAttributes { Group = Group, Resource = Resource, Verb = Verb, Name = revocation.Tenant },
                },
            }, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (access.Status is not { Allowed: true })
            {
                var what = $"{Verb} {Resource}.{Group}" + (revocation.Tenant is null ? " (every tenant: a revocation by jti alone)" : $" named \"{revocation.Tenant}\"");
                LogRefused(logger, user.Username, "not allowed to " + what);
                return Error(StatusCodes.Status403Forbidden, "forbidden", $"user \"{user.Username}\" may not {what}");
            }
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException)
        {
            LogKubernetesFailed(logger, "SubjectAccessReview", e.Message);
            return Error(StatusCodes.Status503ServiceUnavailable, "kubernetes_unavailable", "the permission cannot be checked right now; retry later");
        }

        if (store is null)
        {
            return Error(StatusCodes.Status503ServiceUnavailable, "revocation_store_unavailable", "this operator runs without --redis, so it cannot reach the decision servers' revocation list");
        }

        try
        {
            await store.RevokeAsync(revocation, cancellationToken).ConfigureAwait(false);
        }
        catch (StateStoreUnavailableException e)
        {
            LogStoreFailed(logger, e.Message);
            return Error(StatusCodes.Status503ServiceUnavailable, "revocation_store_unavailable", "Redis cannot be reached; the revocation was not recorded");
        }

        LogRevoked(logger, user.Username, revocation.Jti ?? "*", revocation.Tenant ?? "*", revocation.AgentId ?? "*", revocation.Reason ?? "");
        return Results.Json(new Dictionary<string, string>
        {
            ["revokedAt"] = revocation.RevokedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["revokedBy"] = user.Username,
        }, statusCode: (int)HttpStatusCode.Created);
    }

    private static IResult Error(int status, string error, string message) =>
        Results.Json(new Dictionary<string, string> { ["error"] = error, ["message"] = message }, statusCode: status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "revocation refused for {User}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string user, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Review} failed: {Reason}")]
    private static partial void LogKubernetesFailed(ILogger logger, string review, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "recording a revocation failed: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{User} revoked jti {Jti} of tenant {Tenant}, agent {Agent}: {Reason}")]
    private static partial void LogRevoked(ILogger logger, string user, string jti, string tenant, string agent, string reason);
}
