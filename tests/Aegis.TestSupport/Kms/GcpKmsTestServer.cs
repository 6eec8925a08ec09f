using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;

namespace Aegis.TestSupport.Kms;

/// <summary>
/// An in-process Google Cloud KMS REST endpoint for tests: <c>GET v1/{name}/publicKey</c> and
/// <c>POST v1/{name}:asymmetricSign</c> with a bearer token check, the CRC32C integrity fields, and Google's JSON
/// error shape. Its key versions are real Ed25519 keys (EC_SIGN_ED25519), so the signatures it returns are real.
/// </summary>
public sealed class GcpKmsTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Key> _keys = new(StringComparer.Ordinal);

    private GcpKmsTestServer(WebApplication app, string accessToken)
    {
        _app = app;
        AccessToken = accessToken;
    }

    /// <summary>The only bearer token accepted.</summary>
    public string AccessToken { get; }

    public string Url { get; private set; } = "";

    /// <summary>When set, asymmetricSign answers with a wrong signatureCrc32c (a response corrupted in transit).</summary>
    public bool CorruptSignatureCrc { get; set; }

    public static async Task<GcpKmsTestServer> StartAsync(string accessToken = "ya29.aegis-test-token")
    {
        var app = LoopbackPorts.CreateApp();
        var server = new GcpKmsTestServer(app, accessToken);
        app.Map("/v1/{**resource}", server.HandleAsync);
        await app.StartAsync();
        server.Url = LoopbackPorts.BaseUrl(app) + "/";
        return server;
    }

    /// <summary>Creates an EC_SIGN_ED25519 key version; returns its resource name and raw public key.</summary>
    public (string Name, byte[] PublicKey) CreateKeyVersion(string keyName = "aegis-signing")
    {
        var key = Key.Create(SignatureAlgorithm.Ed25519);
        var name = $"projects/aegis-test/locations/global/keyRings/aegis/cryptoKeys/{keyName}/cryptoKeyVersions/{_keys.Count + 1}";
        _keys[name] = key;
        return (name, key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    /// <summary>CRC-32C computed bit by bit, independent of the table-driven one under test.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var i = 0; i < 8; i++)
            {
                crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
            }
        }

        return ~crc;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Headers.Authorization.ToString() != "Bearer " + AccessToken)
        {
            await ErrorAsync(context.Response, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
            return;
        }

        var resource = (string)context.Request.RouteValues["resource"]!;
        if (HttpMethods.IsGet(context.Request.Method) && resource.EndsWith("/publicKey", StringComparison.Ordinal))
        {
            var name = resource[..^"/publicKey".Length];
            if (!_keys.TryGetValue(name, out var key))
            {
                await ErrorAsync(context.Response, 404, "NOT_FOUND", $"{name} not found.");
                return;
            }

            var pem = new string(System.Security.Cryptography.PemEncoding.Write("PUBLIC KEY", key.PublicKey.Export(KeyBlobFormat.PkixPublicKey))) + "\n";
            await context.Response.WriteAsJsonAsync(new JsonObject
            {
                ["pem"] = pem,
                ["algorithm"] = "EC_SIGN_ED25519",
                ["pemCrc32c"] = Crc32C(Encoding.UTF8.GetBytes(pem)).ToString(CultureInfo.InvariantCulture),
                ["name"] = name,
                ["protectionLevel"] = "SOFTWARE",
            });
            return;
        }

        if (HttpMethods.IsPost(context.Request.Method) && resource.EndsWith(":asymmetricSign", StringComparison.Ordinal))
        {
            var name = resource[..^":asymmetricSign".Length];
            if (!_keys.TryGetValue(name, out var key))
            {
                await ErrorAsync(context.Response, 404, "NOT_FOUND", $"{name} not found.");
                return;
            }

            byte[] data;
            string? declaredCrc;
            try
            {
                var body = (await JsonNode.ParseAsync(context.Request.Body))?.AsObject() ?? throw new JsonException("empty body");
                data = Convert.FromBase64String(body["data"]?.GetValue<string>() ?? throw new JsonException("data is required for EC_SIGN_ED25519"));
                declaredCrc = body["dataCrc32c"]?.GetValue<string>();
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
            {
                await ErrorAsync(context.Response, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. " + e.Message);
                return;
            }

            if (declaredCrc is not null && declaredCrc != Crc32C(data).ToString(CultureInfo.InvariantCulture))
            {
                await ErrorAsync(context.Response, 400, "INVALID_ARGUMENT", "The checksum in field data_crc32c did not match the data in field data.");
                return;
            }

            var signature = SignatureAlgorithm.Ed25519.Sign(key, data);
            var crc = Crc32C(signature) + (CorruptSignatureCrc ? 1u : 0u);
            await context.Response.WriteAsJsonAsync(new JsonObject
            {
                ["signature"] = Convert.ToBase64String(signature),
                ["signatureCrc32c"] = crc.ToString(CultureInfo.InvariantCulture),
                ["verifiedDataCrc32c"] = declaredCrc is not null,
                ["name"] = name,
                ["protectionLevel"] = "SOFTWARE",
            });
            return;
        }

        await ErrorAsync(context.Response, 404, "NOT_FOUND", $"no method for {context.Request.Method} v1/{resource}");
    }

    private static async Task ErrorAsync(HttpResponse response, int code, string status, string message)
    {
        response.StatusCode = code;
        await response.WriteAsJsonAsync(new JsonObject { ["error"] = new JsonObject { ["code"] = code, ["message"] = message, ["status"] = status } });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var key in _keys.Values)
        {
            key.Dispose();
        }
    }
}
