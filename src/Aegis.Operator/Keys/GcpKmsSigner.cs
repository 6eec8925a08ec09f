using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aegis.Policy.Signing;
using Google.Apis.Auth.OAuth2;

namespace Aegis.Operator.Keys;

/// <summary>
/// Signs with a Google Cloud KMS key version of algorithm <c>EC_SIGN_ED25519</c> through the REST API
/// (<c>:asymmetricSign</c> with <c>data</c> and <c>dataCrc32c</c>; REFERENCE.md §6). Every response's integrity
/// fields are checked (<c>verifiedDataCrc32c</c>, <c>signatureCrc32c</c>, <c>name</c>, <c>pemCrc32c</c>) as Google
/// asks clients to, and the signature is verified with the public key before use.
/// </summary>
public sealed class GcpKmsSigner : KmsEd25519Signer
{
    /// <summary>The OAuth scope Cloud KMS calls need.</summary>
    public const string Scope = "https://www.googleapis.com/auth/cloudkms";

    /// <summary>The public endpoint.</summary>
    public static readonly Uri DefaultEndpoint = new("https://cloudkms.googleapis.com/");

    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly string _keyVersion;
    private readonly ITokenAccess _credential;

    private GcpKmsSigner(HttpClient http, Uri endpoint, string keyVersion, ITokenAccess credential, byte[] publicKey, KeyPurpose purpose)
        : base(publicKey, purpose)
    {
        _http = http;
        _endpoint = endpoint;
        _keyVersion = keyVersion;
        _credential = credential;
    }

    public override string Description => "Cloud KMS key version " + _keyVersion;

    /// <summary>
    /// Fetches and checks the public key of <paramref name="keyVersion"/>
    /// (<c>projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N</c>).
    /// </summary>
    public static async Task<GcpKmsSigner> CreateAsync(HttpClient http, string keyVersion, ITokenAccess credential, KeyPurpose purpose, Uri? endpoint = null, CancellationToken cancellationToken = default)
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(keyVersion, "^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+/cryptoKeyVersions/[^/]+$"))
        {
            throw new ArgumentException($"\"{keyVersion}\" is not a key version name (projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N)", nameof(keyVersion));
        }

        endpoint ??= DefaultEndpoint;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(endpoint, $"v1/{keyVersion}/publicKey"));
        var response = await SendAsync(http, request, credential, "publicKey", keyVersion, cancellationToken).ConfigureAwait(false);
        var body = Deserialize<PublicKeyResponse>(response, "publicKey", keyVersion);
        if (body.Pem is null || body.PemCrc32c is null || ParseCrc(body.PemCrc32c) != Crc32C.Compute(System.Text.Encoding.UTF8.GetBytes(body.Pem)))
        {
            throw new KmsSigningException($"Cloud KMS publicKey for {keyVersion}: pemCrc32c does not match the pem (corrupted in transit)");
        }

        if (body.Algorithm != "EC_SIGN_ED25519")
        {
            throw new KmsSigningException($"Cloud KMS key {keyVersion} has algorithm {body.Algorithm}; Aegis signs with EC_SIGN_ED25519 keys");
        }

        try
        {
            return new GcpKmsSigner(http, endpoint, keyVersion, credential, Ed25519PublicKeys.FromPem(body.Pem), purpose);
        }
        catch (FormatException e)
        {
            throw new KmsSigningException($"Cloud KMS returned an unusable public key for {keyVersion}: {e.Message}", e);
        }
    }

    protected override async Task<byte[]> SignInKmsAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_endpoint, $"v1/{_keyVersion}:asymmetricSign"))
        {
            Content = JsonContent.Create(new SignRequest(Convert.ToBase64String(data.Span), Crc32C.Compute(data.Span).ToString(CultureInfo.InvariantCulture))),
        };
        var response = await SendAsync(_http, request, _credential, "asymmetricSign", _keyVersion, cancellationToken).ConfigureAwait(false);
        var body = Deserialize<SignResponse>(response, "asymmetricSign", _keyVersion);
        if (body.VerifiedDataCrc32c != true)
        {
            throw new KmsSigningException($"Cloud KMS asymmetricSign for {_keyVersion}: verifiedDataCrc32c is not true (the request was corrupted in transit or the checksum was not received)");
        }

        if (body.Name != _keyVersion)
        {
            throw new KmsSigningException($"Cloud KMS asymmetricSign answered for \"{body.Name}\", not {_keyVersion}");
        }

        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(body.Signature ?? "");
        }
        catch (FormatException e)
        {
            throw new KmsSigningException($"Cloud KMS asymmetricSign for {_keyVersion}: the signature is not base64", e);
        }

        return body.SignatureCrc32c is not null && ParseCrc(body.SignatureCrc32c) == Crc32C.Compute(signature)
            ? signature
            : throw new KmsSigningException($"Cloud KMS asymmetricSign for {_keyVersion}: signatureCrc32c does not match the signature (corrupted in transit)");
    }

    private static async Task<string> SendAsync(HttpClient http, HttpRequestMessage request, ITokenAccess credential, string method, string keyVersion, CancellationToken cancellationToken)
    {
        var token = await credential.GetAccessTokenForRequestAsync(request.RequestUri!.ToString(), cancellationToken).ConfigureAwait(false);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new KmsSigningException($"Cloud KMS {method} for {keyVersion} failed: HTTP {(int)response.StatusCode} {ErrorText(text)}");
        }

        return text;
    }

    // Google's error shape: {"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}.
    private static string ErrorText(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                var status = error.TryGetProperty("status", out var s) ? s.GetString() : null;
                var message = error.TryGetProperty("message", out var m) ? m.GetString() : null;
                return $"{status}: {message}";
            }
        }
        catch (JsonException)
        {
            // Not Google's JSON (a proxy's page, say): show the start of it instead.
        }

        return body.Length > 200 ? body[..200] : body;
    }

    private static T Deserialize<T>(string text, string method, string keyVersion)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(text) ?? throw new KmsSigningException($"Cloud KMS {method} for {keyVersion}: empty response");
        }
        catch (JsonException e)
        {
            throw new KmsSigningException($"Cloud KMS {method} for {keyVersion}: the response is not the documented JSON: {e.Message}", e);
        }
    }

    // int64 fields travel as decimal strings in proto3 JSON.
    private static uint? ParseCrc(string text) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var crc) ? crc : null;

    private sealed record SignRequest(
        [property: JsonPropertyName("data")] string Data,
        [property: JsonPropertyName("dataCrc32c")] string DataCrc32c);

    private sealed record SignResponse(
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("signature")] string? Signature,
        [property: JsonPropertyName("signatureCrc32c")] string? SignatureCrc32c,
        [property: JsonPropertyName("verifiedDataCrc32c")] bool? VerifiedDataCrc32c);

    private sealed record PublicKeyResponse(
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("pem")] string? Pem,
        [property: JsonPropertyName("pemCrc32c")] string? PemCrc32c,
        [property: JsonPropertyName("algorithm")] string? Algorithm);
}
