using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Aegis.TestSupport.Aws;

/// <summary>Why a request's AWS Signature Version 4 was refused; each fake maps it to its service's error code.</summary>
public enum SigV4Failure
{
    MissingAuthorization,
    MalformedAuthorization,
    UnknownAccessKey,
    MissingPayloadHash,
    PayloadHashMismatch,
    UnsignedRequiredHeader,
    SignatureMismatch,
}

/// <summary>
/// Checks AWS Signature Version 4 (header form) the way AWS services do, for the in-process S3 and KMS endpoints:
/// credential scope (access key, service), required signed headers, payload hash and the HMAC chain.
/// </summary>
public sealed class SigV4Verifier(string accessKey, string secretKey, string service, params string[] requiredSignedHeaders)
{
    /// <summary>
    /// Null when the signature is valid, else the failure and AWS's message. The payload hash is the
    /// x-amz-content-sha256 header when sent (S3 requires it), else the SHA-256 of <paramref name="body"/>.
    /// </summary>
    public (SigV4Failure Failure, string Message)? Verify(HttpRequest request, byte[] body)
    {
        var authorization = request.Headers.Authorization.ToString();
        const string Algorithm = "AWS4-HMAC-SHA256 ";
        if (!authorization.StartsWith(Algorithm, StringComparison.Ordinal))
        {
            return (SigV4Failure.MissingAuthorization, "Authorization header missing or not AWS4-HMAC-SHA256");
        }

        var parts = authorization[Algorithm.Length..].Split(',', StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaders) || !parts.TryGetValue("Signature", out var signature))
        {
            return (SigV4Failure.MalformedAuthorization, "Credential, SignedHeaders and Signature are required");
        }

        var scope = credential.Split('/');
        if (scope.Length != 5 || scope[0] != accessKey || scope[3] != service || scope[4] != "aws4_request")
        {
            return (SigV4Failure.UnknownAccessKey, $"unknown access key or scope {credential}");
        }

        var payloadHash = request.Headers["x-amz-content-sha256"].ToString();
        var bodyHash = Convert.ToHexStringLower(SHA256.HashData(body));
        if (payloadHash.Length == 0)
        {
            if (requiredSignedHeaders.Contains("x-amz-content-sha256"))
            {
                return (SigV4Failure.MissingPayloadHash, "x-amz-content-sha256 is required");
            }

            payloadHash = bodyHash;
        }

        if (payloadHash.Length == 64 && !string.Equals(payloadHash, bodyHash, StringComparison.OrdinalIgnoreCase))
        {
            return (SigV4Failure.PayloadHashMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.");
        }

        var amzDate = request.Headers["x-amz-date"].ToString();
        var names = signedHeaders.Split(';');
        if (!names.Contains("host") || !names.Contains("x-amz-date") || requiredSignedHeaders.Any(h => !names.Contains(h)))
        {
            return (SigV4Failure.UnsignedRequiredHeader, $"host, x-amz-date and {string.Join(", ", requiredSignedHeaders)} must be signed");
        }

        var canonicalHeaders = new StringBuilder();
        foreach (var name in names)
        {
            var value = name == "host" ? request.Host.Value : string.Join(',', request.Headers[name].Select(v => v!.Trim()));
            canonicalHeaders.Append(name).Append(':').Append(value).Append('\n');
        }

        var query = string.Join('&', request.Query
            .SelectMany(q => q.Value.Select(v => (Key: Uri.EscapeDataString(q.Key), Value: Uri.EscapeDataString(v ?? ""))))
            .OrderBy(q => q.Key, StringComparer.Ordinal).ThenBy(q => q.Value, StringComparer.Ordinal)
            .Select(q => $"{q.Key}={q.Value}"));

        // S3 style (no double encoding); the other services' paths here are "/", where both styles agree.
        var path = string.Join('/', (request.PathBase + request.Path).Value!.Split('/').Select(Uri.EscapeDataString));
        var canonicalRequest = $"{request.Method}\n{path}\n{query}\n{canonicalHeaders}\n{signedHeaders}\n{payloadHash}";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{string.Join('/', scope[1..])}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + secretKey);
        foreach (var part in scope[1..])
        {
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        }

        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature))
            ? null
            : (SigV4Failure.SignatureMismatch, "The request signature we calculated does not match the signature you provided.");
    }
}
