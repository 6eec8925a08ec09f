using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

#pragma warning disable CA5351 // S3 ETags and GCS md5Hash are MD5 by definition of the wire format.

namespace Aegis.TestSupport.Storage;

/// <summary>
/// An in-process Cloud Storage JSON API endpoint for tests: resumable uploads (initiate, then PUT with Content-Range,
/// honouring <c>ifGenerationMatch</c>), media downloads with <c>x-goog-hash</c>, listing, generations, bucket retention
/// policies (objects held until <c>retentionExpirationTime</c>, never replaced before), bearer-token authentication and
/// the JSON API's error bodies.
/// The real Google.Cloud.Storage.V1 client talks to it.
/// </summary>
public sealed class GcsTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, List<StoredObject>>> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Bucket, string Name, string ContentType, string? IfGenerationMatch)> _uploads = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TimeSpan> _retention = new(StringComparer.Ordinal);
    private long _generation = 1_700_000_000_000_000;

    private GcsTestServer(WebApplication app, string token)
    {
        _app = app;
        AccessToken = token;
    }

    /// <summary>The OAuth access token requests must carry.</summary>
    public string AccessToken { get; }

    public string Url { get; private set; } = "";

    /// <summary>Every request, as "METHOD path?uploadType" — what the client really did.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static async Task<GcsTestServer> StartAsync(string token = "aegis-test-token")
    {
        var app = LoopbackPorts.CreateApp();
        var server = new GcsTestServer(app, token);
        app.MapPost("/upload/storage/v1/b/{bucket}/o", server.InitiateAsync);
        app.MapPut("/upload/storage/v1/b/{bucket}/o", server.UploadAsync);
        app.MapGet("/storage/v1/b/{bucket}/o/{**name}", server.GetAsync);
        app.MapGet("/storage/v1/b/{bucket}/o", server.ListAsync);
        app.Use(async (context, next) =>
        {
            server.Requests.Enqueue($"{context.Request.Method} {context.Request.Path}{(context.Request.Query.TryGetValue("uploadType", out var t) ? "?uploadType=" + t : "")}");
            if (context.Request.Headers.Authorization.ToString() != "Bearer " + server.AccessToken)
            {
                await ErrorAsync(context.Response, 401, "required", "Anonymous caller does not have storage.objects access.");
                return;
            }

            // The Google client gzips JSON request bodies (Content-Encoding: gzip), as the real API accepts.
            if (context.Request.Headers.ContentEncoding == "gzip")
            {
                context.Request.Body = new System.IO.Compression.GZipStream(context.Request.Body, System.IO.Compression.CompressionMode.Decompress);
            }

            try
            {
                await next(context);
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
            {
                server.Requests.Enqueue("error: " + e.Message);
                await ErrorAsync(context.Response, 400, "invalid", e.Message);
            }
        });
        await app.StartAsync();
        server.Url = LoopbackPorts.BaseUrl(app);
        return server;
    }

    /// <summary>Creates a bucket; with <paramref name="retention"/> it has a (locked) retention policy of that length.</summary>
    public void CreateBucket(string name, TimeSpan? retention = null)
    {
        _buckets[name] = new(StringComparer.Ordinal);
        if (retention is { } r)
        {
            _retention[name] = r;
        }
    }

    /// <summary>Every generation of an object, oldest first.</summary>
    public IReadOnlyList<(long Generation, byte[] Content)> Generations(string bucket, string name) =>
        _buckets[bucket].TryGetValue(name, out var list) ? [.. list.Select(o => (o.Generation, o.Content))] : [];

    private async Task InitiateAsync(HttpContext context, string bucket)
    {
        if (context.Request.Query["uploadType"] != "resumable")
        {
            await ErrorAsync(context.Response, 400, "invalid", "this server supports uploadType=resumable only");
            return;
        }

        if (!_buckets.ContainsKey(bucket))
        {
            await ErrorAsync(context.Response, 404, "notFound", "The specified bucket does not exist.");
            return;
        }

        var metadata = await JsonNode.ParseAsync(context.Request.Body) as JsonObject;
        var name = metadata?["name"]?.GetValue<string>() ?? context.Request.Query["name"].ToString();
        if (string.IsNullOrEmpty(name))
        {
            await ErrorAsync(context.Response, 400, "required", "Required: object name");
            return;
        }

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var ifGenerationMatch = context.Request.Query["ifGenerationMatch"].ToString() is { Length: > 0 } g ? g : null;
        if (Refusal(bucket, name, ifGenerationMatch) is { } refusal)
        {
            await ErrorAsync(context.Response, refusal.Status, refusal.Reason, refusal.Message);
            return;
        }

        _uploads[id] = (bucket, name, metadata?["contentType"]?.GetValue<string>() ?? context.Request.Headers["X-Upload-Content-Type"].ToString(), ifGenerationMatch);
        context.Response.Headers.Location = $"{Url}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={id}";
    }

    private async Task UploadAsync(HttpContext context, string bucket)
    {
        if (!_uploads.TryRemove(context.Request.Query["upload_id"].ToString(), out var upload) || upload.Bucket != bucket)
        {
            await ErrorAsync(context.Response, 404, "notFound", "No such upload session.");
            return;
        }

        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var content = buffer.ToArray();

        // The whole object in one request: "bytes 0-(n-1)/n", or "bytes */0" for an empty one.
        var range = context.Request.Headers.ContentRange.ToString();
        var expected = content.Length == 0 ? "bytes */0" : $"bytes 0-{content.Length - 1}/{content.Length}";
        if (range.Length > 0 && range != expected)
        {
            await ErrorAsync(context.Response, 400, "invalid", $"Content-Range {range} does not describe the {content.Length} bytes sent (chunked uploads are not supported here)");
            return;
        }

        if (Refusal(bucket, upload.Name, upload.IfGenerationMatch) is { } refusal)
        {
            await ErrorAsync(context.Response, refusal.Status, refusal.Reason, refusal.Message);
            return;
        }

        var stored = new StoredObject(upload.Name, Interlocked.Increment(ref _generation), content, upload.ContentType)
        {
            RetentionExpiration = _retention.TryGetValue(bucket, out var retention) ? DateTimeOffset.UtcNow + retention : null,
        };
        _buckets[bucket].AddOrUpdate(upload.Name, _ => [stored], (_, list) => [.. list, stored]);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(stored.Resource(bucket).ToJsonString());
    }

    private async Task GetAsync(HttpContext context, string bucket, string name)
    {
        // Object names travel percent-encoded in one path segment ("a%2Fb"); Kestrel leaves %2F encoded.
        name = Uri.UnescapeDataString(name);
        if (!_buckets.TryGetValue(bucket, out var objects) || !objects.TryGetValue(name, out var generations))
        {
            await ErrorAsync(context.Response, 404, "notFound", $"No such object: {bucket}/{name}");
            return;
        }

        var wanted = context.Request.Query["generation"].ToString();
        var stored = wanted.Length == 0 ? generations[^1] : generations.FirstOrDefault(g => g.Generation.ToString(CultureInfo.InvariantCulture) == wanted);
        if (stored is null)
        {
            await ErrorAsync(context.Response, 404, "notFound", $"No such object: {bucket}/{name}#{wanted}");
            return;
        }

        if (context.Request.Query["alt"] != "media")
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(stored.Resource(bucket).ToJsonString());
            return;
        }

        context.Response.ContentType = stored.ContentType;
        context.Response.Headers["x-goog-generation"] = stored.Generation.ToString(CultureInfo.InvariantCulture);
        context.Response.Headers["x-goog-hash"] = $"crc32c={stored.Crc32c},md5={stored.Md5}";
        await context.Response.Body.WriteAsync(stored.Content);
    }

    // ifGenerationMatch=0 means "only if no live object has this name"; a retention policy forbids replacing an object early.
    private (int Status, string Reason, string Message)? Refusal(string bucket, string name, string? ifGenerationMatch)
    {
        var existing = _buckets.TryGetValue(bucket, out var objects) && objects.TryGetValue(name, out var list) ? list[^1] : null;
        if (ifGenerationMatch is { } wanted && (existing?.Generation.ToString(CultureInfo.InvariantCulture) ?? "0") != wanted)
        {
            return (412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.");
        }

        return existing?.RetentionExpiration is { } until && until > DateTimeOffset.UtcNow
            ? (403, "retentionPolicyNotMet", $"Object '{bucket}/{name}' is subject to bucket's retention policy or object retention and cannot be deleted or overwritten until {until:O}")
            : null;
    }

    private async Task ListAsync(HttpContext context, string bucket)
    {
        if (!_buckets.TryGetValue(bucket, out var objects))
        {
            await ErrorAsync(context.Response, 404, "notFound", "The specified bucket does not exist.");
            return;
        }

        var prefix = context.Request.Query["prefix"].ToString();
        var items = new JsonArray([.. objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => (JsonNode)o.Value[^1].Resource(bucket))]);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(new JsonObject { ["kind"] = "storage#objects", ["items"] = items }.ToJsonString());
    }

    private static async Task ErrorAsync(HttpResponse response, int status, string reason, string message)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        await response.WriteAsync(new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["code"] = status,
                ["message"] = message,
                ["errors"] = new JsonArray(new JsonObject { ["domain"] = "global", ["reason"] = reason, ["message"] = message }),
            },
        }.ToJsonString());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record StoredObject(string Name, long Generation, byte[] Content, string ContentType)
    {
        public DateTimeOffset? RetentionExpiration { get; init; }

        public string Md5 { get; } = Convert.ToBase64String(MD5.HashData(Content));
        public string Crc32c { get; } = Convert.ToBase64String(Crc32cBigEndian(Content));

        public JsonObject Resource(string bucket) => new()
        {
            ["kind"] = "storage#object",
            ["id"] = $"{bucket}/{Name}/{Generation}",
            ["name"] = Name,
            ["bucket"] = bucket,
            ["generation"] = Generation.ToString(CultureInfo.InvariantCulture),
            ["metageneration"] = "1",
            ["contentType"] = ContentType,
            ["size"] = Content.Length.ToString(CultureInfo.InvariantCulture),
            ["md5Hash"] = Md5,
            ["crc32c"] = Crc32c,
            ["retentionExpirationTime"] = RetentionExpiration?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        };
    }

    // Big-endian, as GCS sends it; computed by the same independent reference the KMS fake uses.
    private static byte[] Crc32cBigEndian(byte[] data)
    {
        var crc = Kms.GcpKmsTestServer.Crc32C(data);
        return [(byte)(crc >> 24), (byte)(crc >> 16), (byte)(crc >> 8), (byte)crc];
    }
}
