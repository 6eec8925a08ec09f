using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Aegis.TestSupport.Aws;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

#pragma warning disable CA5351 // S3 ETags and GCS md5Hash are MD5 by definition of the wire format.

namespace Aegis.TestSupport.Storage;

/// <summary>
/// An in-process S3 endpoint (path-style) for tests: PutObject, GetObject and bucket versioning, with every request's
/// AWS Signature Version 4 and payload hash checked as S3 checks them, and S3's XML errors. The real AWS SDK talks to it.
/// </summary>
public sealed class S3TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private long _version;

    private S3TestServer(WebApplication app, string accessKey, string secretKey)
    {
        _app = app;
        AccessKey = accessKey;
        SecretKey = secretKey;
    }

    public string AccessKey { get; }
    public string SecretKey { get; }
    public string Url { get; private set; } = "";

    /// <summary>Every request that reached an object, as "METHOD bucket/key".</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Signature or payload failures, with S3's error code.</summary>
    public ConcurrentQueue<string> Refusals { get; } = new();

    public static async Task<S3TestServer> StartAsync(string accessKey = "AKIDAEGISTEST", string secretKey = "aegis-test-secret")
    {
        var app = LoopbackPorts.CreateApp();
        var server = new S3TestServer(app, accessKey, secretKey);
        app.Map("/{bucket}/{**key}", server.HandleAsync);
        await app.StartAsync();
        server.Url = LoopbackPorts.BaseUrl(app);
        return server;
    }

    public void CreateBucket(string name, bool versioned) => _buckets[name] = new Bucket(versioned);

    /// <summary>Every stored version of an object, oldest first.</summary>
    public IReadOnlyList<(string VersionId, byte[] Content)> Versions(string bucket, string key) =>
        _buckets[bucket].Objects.TryGetValue(key, out var versions) ? [.. versions.Select(v => (v.VersionId, v.Content))] : [];

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        if (Authenticate(request, body) is { } refusal)
        {
            Refusals.Enqueue(refusal.Code);
            await ErrorAsync(context.Response, 403, refusal.Code, refusal.Message, "");
            return;
        }

        var bucketName = (string)context.GetRouteValue("bucket")!;
        var key = (string?)context.GetRouteValue("key") ?? "";
        if (!_buckets.TryGetValue(bucketName, out var bucket))
        {
            await ErrorAsync(context.Response, 404, "NoSuchBucket", "The specified bucket does not exist", bucketName);
            return;
        }

        Requests.Enqueue($"{request.Method} {bucketName}/{key}");
        switch (request.Method)
        {
            case "PUT" when key.Length > 0:
                var content = DecodePayload(request, body);
                var versionId = bucket.Versioned ? Interlocked.Increment(ref _version).ToString("D12", CultureInfo.InvariantCulture) : "null";
                var stored = new StoredObject(versionId, content, request.ContentType ?? "binary/octet-stream");
                bucket.Objects.AddOrUpdate(key, _ => [stored], (_, list) => bucket.Versioned ? [.. list, stored] : [stored]);
                context.Response.Headers.ETag = stored.ETag;
                if (bucket.Versioned)
                {
                    context.Response.Headers["x-amz-version-id"] = versionId;
                }

                return;
            case "GET" or "HEAD" when key.Length > 0:
                if (!bucket.Objects.TryGetValue(key, out var versions))
                {
                    await ErrorAsync(context.Response, 404, "NoSuchKey", "The specified key does not exist.", key);
                    return;
                }

                var wanted = request.Query["versionId"].ToString();
                var version = wanted.Length == 0 ? versions[^1] : versions.FirstOrDefault(v => v.VersionId == wanted);
                if (version is null)
                {
                    await ErrorAsync(context.Response, 404, "NoSuchVersion", "The specified version does not exist.", key);
                    return;
                }

                context.Response.ContentType = version.ContentType;
                context.Response.ContentLength = version.Content.Length;
                context.Response.Headers.ETag = version.ETag;
                context.Response.Headers["x-amz-version-id"] = version.VersionId;
                if (request.Method == "GET")
                {
                    await context.Response.Body.WriteAsync(version.Content);
                }

                return;
            default:
                await ErrorAsync(context.Response, 405, "MethodNotAllowed", $"{request.Method} is not supported here", key);
                return;
        }
    }

    // AWS Signature Version 4, header form, as S3 verifies it (payload hash header required and signed).
    private (string Code, string Message)? Authenticate(HttpRequest request, byte[] body) =>
        new SigV4Verifier(AccessKey, SecretKey, "s3", "x-amz-content-sha256").Verify(request, body) switch
        {
            null => null,
            var (failure, message) => (failure switch
            {
                SigV4Failure.MalformedAuthorization => "AuthorizationHeaderMalformed",
                SigV4Failure.UnknownAccessKey => "InvalidAccessKeyId",
                SigV4Failure.MissingPayloadHash => "InvalidRequest",
                SigV4Failure.PayloadHashMismatch => "XAmzContentSHA256Mismatch",
                SigV4Failure.SignatureMismatch => "SignatureDoesNotMatch",
                _ => "AccessDenied",
            }, message),
        };

    // Streaming uploads send aws-chunked frames: "<hex size>[;chunk-signature=...]\r\n<data>\r\n" ... "0\r\n<trailers>\r\n\r\n".
    private static byte[] DecodePayload(HttpRequest request, byte[] body)
    {
        if (!request.Headers["x-amz-content-sha256"].ToString().StartsWith("STREAMING-", StringComparison.Ordinal))
        {
            return body;
        }

        using var content = new MemoryStream();
        var position = 0;
        while (true)
        {
            var lineEnd = body.AsSpan(position).IndexOf("\r\n"u8) + position;
            var header = Encoding.ASCII.GetString(body, position, lineEnd - position).Split(';')[0];
            var size = int.Parse(header, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            position = lineEnd + 2;
            if (size == 0)
            {
                break;
            }

            content.Write(body, position, size);
            position += size + 2;
        }

        var decoded = content.ToArray();
        var declared = request.Headers["x-amz-decoded-content-length"].ToString();
        return declared.Length > 0 && long.Parse(declared, CultureInfo.InvariantCulture) != decoded.Length
            ? throw new InvalidDataException($"aws-chunked body decoded to {decoded.Length} bytes, x-amz-decoded-content-length says {declared}")
            : decoded;
    }

    private static async Task ErrorAsync(HttpResponse response, int status, string code, string message, string resource)
    {
        response.StatusCode = status;
        response.ContentType = "application/xml";
        await response.WriteAsync($"""<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{System.Security.SecurityElement.Escape(message)}</Message><Resource>{System.Security.SecurityElement.Escape(resource)}</Resource><RequestId>aegis-test</RequestId></Error>""");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record Bucket(bool Versioned)
    {
        public ConcurrentDictionary<string, List<StoredObject>> Objects { get; } = new(StringComparer.Ordinal);
    }

    private sealed record StoredObject(string VersionId, byte[] Content, string ContentType)
    {
        public string ETag { get; } = "\"" + Convert.ToHexStringLower(MD5.HashData(Content)) + "\"";
    }
}
