using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aegis.Operator.Keys;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;

namespace Aegis.Operator.Tokens;

/// <summary>
/// <c>POST /v1/token</c>: exchanges an organisation key (<c>Authorization: Bearer aegis-ok.{id}.{secret}</c>) for an
/// agent token limited to what the key's grant allows. 401 for a missing or wrong key, 403 naming the field that
/// asks for more than the grant, 400 for a malformed request, 429 when rate-limited. Failures are logged with the
/// key id and client address, never with the presented key.
/// </summary>
public sealed partial class TokenEndpoint(OrgKeyStore store, ISigner signer, TokenServiceOptions options, TimeProvider time, ILogger<TokenEndpoint> logger)
{
    private readonly FixedWindowLimiter _perKey = new(options.PermitsPerKey, options.RateWindow, time);
    private readonly FixedWindowLimiter _perClient = new(options.PermitsPerClient, options.RateWindow, time);

    /// <summary>Maps the endpoint.</summary>
    public void Map(IEndpointRouteBuilder app) => app.MapPost("/v1/token", (HttpRequest request) => HandleAsync(request.HttpContext));

    private async Task<IResult> HandleAsync(HttpContext context)
    {
        var client = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (!_perClient.TryAcquire(client, out var clientRetry))
        {
            LogLimited(logger, "client " + client);
            return TooMany(context, clientRetry);
        }

        var authorization = context.Request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || !OrgKeys.TryParse(authorization["Bearer ".Length..].Trim(), out var id, out var secret))
        {
            LogRefused(logger, "(none)", client, "no organisation key of the form aegis-ok.{id}.{secret}");
            return Error(StatusCodes.Status401Unauthorized, "org_key_missing", "send the organisation key as Authorization: Bearer aegis-ok.{id}.{secret}");
        }

        var grant = await store.FindAsync(id, context.RequestAborted).ConfigureAwait(false);
        if (!OrgKeys.Matches(secret, grant?.Hash) || grant is null)
        {
            LogRefused(logger, id, client, grant is null ? "unknown key id" : "wrong secret");
            return Error(StatusCodes.Status401Unauthorized, "org_key_invalid", "the organisation key is not valid");
        }

        // Counted only once the key is proven: wrong guesses naming a key's id must not use up its owner's limit.
        if (!_perKey.TryAcquire(id, out var keyRetry))
        {
            LogLimited(logger, "key " + id);
            return TooMany(context, keyRetry);
        }

        TokenRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync<TokenRequest>(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Error(StatusCodes.Status400BadRequest, "request_invalid", "the body is not a JSON token request: " + e.Message);
        }

        if (request?.AgentId is not { Length: > 0 and <= 253 } agentId)
        {
            return Error(StatusCodes.Status400BadRequest, "request_invalid", "agent_id is required (1 to 253 characters)", "agent_id");
        }

        if (request.Tenant is not { Length: > 0 } tenant)
        {
            return Error(StatusCodes.Status400BadRequest, "request_invalid", "tenant is required", "tenant");
        }

        var lifetime = options.TokenLifetime;
        if (request.TtlSeconds is { } ttl)
        {
            if (ttl <= 0 || TimeSpan.FromSeconds(ttl) > options.TokenLifetime)
            {
                return Error(StatusCodes.Status400BadRequest, "request_invalid", $"ttl_seconds must be within 1..{(int)options.TokenLifetime.TotalSeconds}", "ttl_seconds");
            }

            lifetime = TimeSpan.FromSeconds(ttl);
        }

        if (!grant.Tenants.Contains(tenant))
        {
            LogRefused(logger, id, client, $"tenant {tenant} is not granted");
            return Error(StatusCodes.Status403Forbidden, "grant_exceeded", $"this key may not mint tokens for tenant \"{tenant}\"", "tenant");
        }

        if (!grant.AllowsAgent(agentId))
        {
            LogRefused(logger, id, client, $"agent {agentId} is not granted");
            return Error(StatusCodes.Status403Forbidden, "grant_exceeded", $"this key may not mint tokens for agent \"{agentId}\"", "agent_id");
        }

        var scopes = request.Scopes ?? grant.Scopes;
        if (scopes.FirstOrDefault(s => !grant.Scopes.Contains(s)) is { } extra)
        {
            LogRefused(logger, id, client, $"scope {extra} is not granted");
            return Error(StatusCodes.Status403Forbidden, "grant_exceeded", $"this key may not grant scope \"{extra}\"", "scopes");
        }

        string token;
        try
        {
            token = await AgentTokens.MintAsync(signer, new TokenGrant
            {
                Issuer = options.Issuer,
                Audience = options.Audience,
                Tenant = tenant,
                AgentId = agentId,
                Org = grant.Org,
                Scopes = scopes,
            }, time.GetUtcNow(), lifetime, context.RequestAborted).ConfigureAwait(false);
        }
        catch (KmsSigningException e)
        {
            LogSignerFailed(logger, e.Message);
            return Error(StatusCodes.Status503ServiceUnavailable, "signer_unavailable", "the signing key cannot sign right now; retry later");
        }

        LogMinted(logger, id, tenant, agentId);
        context.Response.Headers.CacheControl = "no-store";
        return Results.Json(new TokenResponse(token, "Bearer", (int)lifetime.TotalSeconds, string.Join(' ', scopes)));
    }

    private static IResult TooMany(HttpContext context, TimeSpan retryAfter)
    {
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Error(StatusCodes.Status429TooManyRequests, "rate_limited", "too many token requests; retry after the Retry-After seconds");
    }

    private static IResult Error(int status, string error, string message, string? field = null) =>
        Results.Json(new TokenError(error, message, field), statusCode: status);

    private sealed record TokenRequest(
        [property: JsonPropertyName("agent_id")] string? AgentId,
        [property: JsonPropertyName("tenant")] string? Tenant,
        [property: JsonPropertyName("scopes")] IReadOnlyList<string>? Scopes,
        [property: JsonPropertyName("ttl_seconds")] int? TtlSeconds);

    private sealed record TokenResponse(
        [property: JsonPropertyName("access_token")] string AccessToken,
        [property: JsonPropertyName("token_type")] string TokenType,
        [property: JsonPropertyName("expires_in")] int ExpiresIn,
        [property: JsonPropertyName("scope")] string Scope);

    private sealed record TokenError(
        [property: JsonPropertyName("error")] string Error,
        [property: JsonPropertyName("message")] string Message,
        [property: JsonPropertyName("field"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Field);

    [LoggerMessage(Level = LogLevel.Warning, Message = "token request refused: key {KeyId} from {Client}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string keyId, string client, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "token requests rate-limited for {Partition}")]
    private static partial void LogLimited(ILogger logger, string partition);

    [LoggerMessage(Level = LogLevel.Error, Message = "minting a token failed: {Reason}")]
    private static partial void LogSignerFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "minted a token with key {KeyId} for agent {AgentId} of tenant {Tenant}")]
    private static partial void LogMinted(ILogger logger, string keyId, string tenant, string agentId);
}
