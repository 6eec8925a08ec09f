using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Aegis.Contracts.State;
using Aegis.Contracts.Wire;
using Aegis.Policy.Identity;

namespace Aegis.Decision.Identity;

/// <summary>
/// Standalone mode's <c>POST /v1/revocations</c> on the JSON API port: revokes in this server's own store, for the
/// holder of the local admin token (<c>Authorization: Bearer</c>, compared in constant time). In a cluster the
/// operator serves revocations instead (authenticated by Kubernetes), and this endpoint is not mapped.
/// </summary>
public sealed partial class RevocationApi(ITokenIdStore store, RevocationList list, string adminToken, TimeProvider time, ILogger<RevocationApi> logger)
{
    /// <summary>Who standalone revocations are recorded as made by.</summary>
    public const string Admin = "standalone-admin";

    private const int MaxBodyBytes = 64 * 1024;
    private readonly byte[] _adminHash = SHA256.HashData(Encoding.UTF8.GetBytes(adminToken));

    /// <summary>Maps the endpoint.</summary>
    public void Map(IEndpointRouteBuilder app) => app.MapPost(TokenRevocationRequest.Path, HandleAsync);

    private async Task<IResult> HandleAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        var header = http.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : "";
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _adminHash))
        {
            LogRefused(logger, http.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown");
            return Problem(StatusCodes.Status401Unauthorized, "admin_token_invalid", "send the standalone admin token (.aegis/admin-token) as Authorization: Bearer");
        }

        // Kestrel enforces the cap on the bytes read, chunked or not.
        if (http.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } cap)
        {
            cap.MaxRequestBodySize = MaxBodyBytes;
        }

        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(http.Body, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest, "request_invalid", "the body is not valid JSON: " + e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "request_too_large", $"a revocation request is at most {MaxBodyBytes} bytes");
        }

        using (doc)
        {
            if (!TokenRevocationRequest.TryRead(doc.RootElement, time.GetUtcNow(), AgentTokens.RevocationRetention, Admin, out var revocation, out var error))
            {
                return Problem(StatusCodes.Status400BadRequest, "request_invalid", error);
            }

            await store.RevokeAsync(revocation, cancellationToken).ConfigureAwait(false);

            // The store is this process's: the list can take it at once instead of at the next tick.
            await list.RefreshAsync(cancellationToken).ConfigureAwait(false);
            LogRevoked(logger, revocation.Jti ?? "*", revocation.Tenant ?? "*", revocation.AgentId ?? "*", revocation.Reason ?? "");
            return Results.Json(new Dictionary<string, string> { ["revokedAt"] = revocation.RevokedAt.ToString("O") }, statusCode: StatusCodes.Status201Created);
        }
    }

    private static IResult Problem(int status, string error, string message) =>
        Results.Json(new Dictionary<string, string> { ["error"] = error, ["message"] = message }, statusCode: status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "revocation refused: wrong admin token from {Client}")]
    private static partial void LogRefused(ILogger logger, string client);

    [LoggerMessage(Level = LogLevel.Information, Message = "revoked jti {Jti} tenant {Tenant} agent {Agent}: {Reason}")]
    private static partial void LogRevoked(ILogger logger, string jti, string tenant, string agent, string reason);
}
