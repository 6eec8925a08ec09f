using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.TestSupport.Aws;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;

namespace Aegis.TestSupport.Kms;

/// <summary>
/// An in-process AWS KMS endpoint for tests: the JSON 1.1 protocol (<c>X-Amz-Target: TrentService.Sign |
/// TrentService.GetPublicKey</c>, <c>application/x-amz-json-1.1</c>), every request's SigV4 checked, errors as
/// <c>{"__type", "message"}</c>. Its keys are real Ed25519 keys, so the signatures it returns are real.
/// </summary>
public sealed class AwsKmsTestServer : IAsyncDisposable
{
    private const string Region = "us-east-1";
    private readonly WebApplication _app;
    private readonly SigV4Verifier _sigV4;
    private readonly ConcurrentDictionary<string, (Key Key, bool Enabled)> _keys = new(StringComparer.Ordinal);

    private AwsKmsTestServer(WebApplication app, string accessKey, string secretKey)
    {
        _app = app;
        AccessKey = accessKey;
        SecretKey = secretKey;
        _sigV4 = new SigV4Verifier(accessKey, secretKey, "kms", "x-amz-target");
    }

    public string AccessKey { get; }
    public string SecretKey { get; }
    public string Url { get; private set; } = "";

    /// <summary>Every operation that passed authentication, as "Target KeyId".</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static async Task<AwsKmsTestServer> StartAsync(string accessKey = "AKIDAEGISKMS", string secretKey = "aegis-kms-secret")
    {
        var app = LoopbackPorts.CreateApp();
        var server = new AwsKmsTestServer(app, accessKey, secretKey);
        app.MapPost("/", server.HandleAsync);
        await app.StartAsync();
        server.Url = LoopbackPorts.BaseUrl(app);
        return server;
    }

    /// <summary>Creates an ECC_NIST_EDWARDS25519 key; returns its id and raw public key.</summary>
    public (string KeyId, byte[] PublicKey) CreateKey(bool enabled = true)
    {
        var key = Key.Create(SignatureAlgorithm.Ed25519);
        var id = Guid.NewGuid().ToString();
        _keys[id] = (key, enabled);
        return (id, key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        if (_sigV4.Verify(context.Request, body) is var (failure, reason))
        {
            await ErrorAsync(context.Response, failure switch
            {
                SigV4Failure.UnknownAccessKey => "UnrecognizedClientException",
                SigV4Failure.SignatureMismatch => "InvalidSignatureException",
                _ => "IncompleteSignatureException",
            }, reason);
            return;
        }

        if (context.Request.ContentType != "application/x-amz-json-1.1")
        {
            await ErrorAsync(context.Response, "SerializationException", $"content-type must be application/x-amz-json-1.1, not {context.Request.ContentType}");
            return;
        }

        JsonObject request;
        try
        {
            request = JsonNode.Parse(body)?.AsObject() ?? throw new JsonException("empty body");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            await ErrorAsync(context.Response, "SerializationException", e.Message);
            return;
        }

        var target = context.Request.Headers["X-Amz-Target"].ToString();
        var keyId = request["KeyId"]?.GetValue<string>() ?? "";
        if (!_keys.TryGetValue(keyId, out var entry))
        {
            await ErrorAsync(context.Response, "NotFoundException", $"Key 'arn:aws:kms:{Region}:111122223333:key/{keyId}' does not exist");
            return;
        }

        Requests.Enqueue($"{target} {keyId}");
        var arn = $"arn:aws:kms:{Region}:111122223333:key/{keyId}";
        switch (target)
        {
            case "TrentService.GetPublicKey":
                await WriteAsync(context.Response, new JsonObject
                {
                    ["KeyId"] = arn,
                    ["KeySpec"] = "ECC_NIST_EDWARDS25519",
                    ["KeyUsage"] = "SIGN_VERIFY",
                    ["PublicKey"] = Convert.ToBase64String(entry.Key.PublicKey.Export(KeyBlobFormat.PkixPublicKey)),
                    ["SigningAlgorithms"] = new JsonArray("ED25519_SHA_512", "ED25519_PH_SHA_512"),
                });
                return;
            case "TrentService.Sign":
                if (!entry.Enabled)
                {
                    await ErrorAsync(context.Response, "DisabledException", $"{arn} is disabled.");
                    return;
                }

                var algorithm = request["SigningAlgorithm"]?.GetValue<string>();
                var messageType = request["MessageType"]?.GetValue<string>() ?? "RAW";
                var message = Convert.FromBase64String(request["Message"]?.GetValue<string>() ?? "");
                if (algorithm != "ED25519_SHA_512" || messageType != "RAW")
                {
                    await ErrorAsync(context.Response, "InvalidKeyUsageException", $"this test endpoint signs only ED25519_SHA_512 with MessageType RAW, not {algorithm} / {messageType}");
                    return;
                }

                if (message.Length is 0 or > 4096)
                {
                    await ErrorAsync(context.Response, "ValidationException", "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096");
                    return;
                }

                await WriteAsync(context.Response, new JsonObject
                {
                    ["KeyId"] = arn,
                    ["Signature"] = Convert.ToBase64String(SignatureAlgorithm.Ed25519.Sign(entry.Key, message)),
                    ["SigningAlgorithm"] = algorithm,
                });
                return;
            default:
                await ErrorAsync(context.Response, "UnknownOperationException", $"unknown operation {target}");
                return;
        }
    }

    private static async Task WriteAsync(HttpResponse response, JsonObject body)
    {
        response.ContentType = "application/x-amz-json-1.1";
        await response.WriteAsync(body.ToJsonString());
    }

    private static async Task ErrorAsync(HttpResponse response, string type, string message)
    {
        response.StatusCode = StatusCodes.Status400BadRequest;
        response.ContentType = "application/x-amz-json-1.1";
        await response.WriteAsync(new JsonObject { ["__type"] = type, ["message"] = message }.ToJsonString());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var (key, _) in _keys.Values)
        {
            key.Dispose();
        }
    }
}
