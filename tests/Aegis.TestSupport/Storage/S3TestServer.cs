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
/// An in-process S3 endpoint (path-style) for tests: PutObject (with Object Lock headers and If-None-Match),
/// GetObject, ListObjectsV2 and bucket versioning, with every request's AWS Signature Version 4 and payload hash
/// checked as S3 checks them, and S3's XML errors. The real AWS SDK talks to it.
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

    /// <summary>Creates a bucket; <paramref name="objectLock"/> enables Object Lock (which S3 only allows with versioning).</summary>
    public void CreateBucket(string name, bool versioned, bool objectLock = false) =>
        _buckets[name] = objectLock && !versioned ? throw new ArgumentException("Object Lock needs versioning") : new Bucket(versioned) { ObjectLock = objectLock };

    /// <summary>The Object Lock mode and retain-until date of an object's latest version, when it has them.</summary>
    public (string Mode, DateTimeOffset RetainUntil)? Lock(string bucket, string key) =>
        _buckets[bucket].Objects.TryGetValue(key, out var versions) && versions[^1].LockMode is { } mode ? (mode, versions[^1].RetainUntil!.Value) : null;

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
                var content = DecodePayload(request, body, out var trailers);
                if (request.Headers.IfNoneMatch == "*" && bucket.Objects.ContainsKey(key))
                {
                    await ErrorAsync(context.Response, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", key);
                    return;
                }

                if (ObjectLockError(request, bucket, content, trailers) is { } lockError)
                {
                    await ErrorAsync(context.Response, 400, lockError.Code, lockError.Message, key);
                    return;
                }

                var versionId = bucket.Versioned ? Interlocked.Increment(ref _version).ToString("D12", CultureInfo.InvariantCulture) : "null";
                var stored = new StoredObject(versionId, content, request.ContentType ?? "binary/octet-stream")
                {
                    LockMode = request.Headers["x-amz-object-lock-mode"].ToString() is { Length: > 0 } m ? m : null,
                    RetainUntil = request.Headers["x-amz-object-lock-retain-until-date"].ToString() is { Length: > 0 } u ? DateTimeOffset.Parse(u, CultureInfo.InvariantCulture) : null,
                };
                bucket.Objects.AddOrUpdate(key, _ => [stored], (_, list) => bucket.Versioned ? [.. list, stored] : [stored]);
                context.Response.Headers.ETag = stored.ETag;
                if (bucket.Versioned)
                {
                    context.Response.Headers["x-amz-version-id"] = versionId;
                }

                return;
            case "GET" when key.Length == 0 && request.Query["list-type"] == "2":
                await ListAsync(context.Response, bucketName, bucket, request.Query["prefix"].ToString());
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
                if (version.LockMode is { } lockMode)
                {
                    context.Response.Headers["x-amz-object-lock-mode"] = lockMode;
                    context.Response.Headers["x-amz-object-lock-retain-until-date"] = version.RetainUntil!.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
                }

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

    // Object Lock on PutObject: both headers or neither, a known mode, a future date, a bucket with Object Lock
    // enabled, and the integrity header S3 demands with them (Content-MD5 or an x-amz-checksum-*, header or trailer).
    private static (string Code, string Message)? ObjectLockError(HttpRequest request, Bucket bucket, byte[] content, Dictionary<string, string> trailers)
    {
        var mode = request.Headers["x-amz-object-lock-mode"].ToString();
        var until = request.Headers["x-amz-object-lock-retain-until-date"].ToString();
        if (mode.Length == 0 && until.Length == 0)
        {
            return null;
        }

        if (mode.Length == 0 || until.Length == 0)
        {
            return ("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied");
        }

        if (!bucket.ObjectLock)
        {
            return ("InvalidRequest", "Bucket is missing Object Lock Configuration");
        }

        if (mode is not ("GOVERNANCE" or "COMPLIANCE"))
        {
            return ("InvalidArgument", $"Unknown wormMode directive: {mode}");
        }

        if (!DateTimeOffset.TryParse(until, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) || !until.Contains('T', StringComparison.Ordinal))
        {
            return ("InvalidArgument", "The retain until date must be provided in ISO 8601 format");
        }

        if (date <= DateTimeOffset.UtcNow)
        {
            return ("InvalidArgument", "The retain until date must be in the future!");
        }

        var checksums = request.Headers.Where(h => h.Key.StartsWith("x-amz-checksum-", StringComparison.OrdinalIgnoreCase)).Select(h => (h.Key.ToLowerInvariant(), h.Value.ToString()))
            .Concat(trailers.Select(t => (t.Key, t.Value))).ToList();
        if (request.Headers["Content-MD5"].ToString().Length == 0 && checksums.Count == 0)
        {
            return ("InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters");
        }

        foreach (var (name, value) in checksums)
        {
            if (name == "x-amz-checksum-sha256" && value != Convert.ToBase64String(SHA256.HashData(content)))
            {
                return ("BadDigest", "The SHA256 you specified did not match the calculated checksum.");
            }
        }

        return null;
    }

    private static async Task ListAsync(HttpResponse response, string name, Bucket bucket, string prefix)
    {
        var xml = new StringBuilder($"""<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>{name}</Name><Prefix>{System.Security.SecurityElement.Escape(prefix)}</Prefix>""");
        var keys = bucket.Objects.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        xml.Append(CultureInfo.InvariantCulture, $"<KeyCount>{keys.Count}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>");
        foreach (var key in keys)
        {
            var latest = bucket.Objects[key][^1];
            xml.Append(CultureInfo.InvariantCulture, $"<Contents><Key>{System.Security.SecurityElement.Escape(key)}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>{latest.ETag}</ETag><Size>{latest.Content.Length}</Size><StorageClass>STANDARD</StorageClass></Contents>");
        }

        xml.Append("</ListBucketResult>");
        response.ContentType = "application/xml";
        await response.WriteAsync(xml.ToString());
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
    private static byte[] DecodePayload(HttpRequest request, byte[] body, out Dictionary<string, string> trailers)
    {
        trailers = new Dictionary<string, string>(StringComparer.Ordinal);
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
                // Trailing headers ("name:value\r\n" lines), such as a flexible checksum the SDK computed while streaming.
                foreach (var trailer in Encoding.ASCII.GetString(body, position, body.Length - position).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
                {
                    if (trailer.Split(':', 2) is [var name, var value] && name.StartsWith("x-amz-checksum-", StringComparison.Ordinal))
                    {
                        trailers[name] = value.Trim();
                    }
                }

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
        public bool ObjectLock { get; init; }

        public ConcurrentDictionary<string, List<StoredObject>> Objects { get; } = new(StringComparer.Ordinal);
    }

    private sealed record StoredObject(string VersionId, byte[] Content, string ContentType)
    {
        public string? LockMode { get; init; }
        public DateTimeOffset? RetainUntil { get; init; }

        public string ETag { get; } = "\"" + Convert.ToHexStringLower(MD5.HashData(Content)) + "\"";
    }
}
