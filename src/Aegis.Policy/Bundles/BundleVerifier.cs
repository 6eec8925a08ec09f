using System.Text.Json;
using Aegis.Contracts.Bundles;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Bundles;

/// <summary>Why a bundle was refused; the names double as metric labels and log fields.</summary>
public static class BundleRejection
{
    public const string Malformed = "bundle_malformed";
    public const string NoSignature = "bundle_unsigned";
    public const string UnknownKid = "bundle_unknown_kid";

    /// <summary>The bundle's kid is published for another purpose (a token or audit key), or for none.</summary>
    public const string KeyPurposeMismatch = "bundle_" + KeyPurposes.Mismatch;
    public const string SignatureInvalid = "bundle_signature_invalid";
    public const string FileHashMismatch = "bundle_file_hash_mismatch";
    public const string FileNotSigned = "bundle_file_not_signed";
    public const string FileMissing = "bundle_file_missing";
    public const string TenantMismatch = "bundle_tenant_mismatch";
    public const string RevisionMismatch = "bundle_revision_mismatch";

    /// <summary>The bundle's schema version is one this release cannot read.</summary>
    public const string SchemaUnsupported = "bundle_schema_unsupported";

    /// <summary>The bundle is older (a lower sequence) than the one held for the tenant.</summary>
    public const string Rollback = "bundle_rollback";

    /// <summary>The archive, or what it inflates to, is over the size limit.</summary>
    public const string TooLarge = "bundle_too_large";
}

/// <summary>A verified bundle: its tenant, revision, sequence and wire data.</summary>
public sealed record VerifiedBundle(string Tenant, string Revision, BundleManifest Manifest, BundleData Data, string KeyId)
{
    /// <summary>The manifest's sequence (0 for an unsequenced bundle).</summary>
    public long Sequence => Manifest.Sequence;
}

/// <summary>The outcome of verifying a bundle: the bundle, or a named reason and a message.</summary>
public sealed record BundleVerification(VerifiedBundle? Bundle, string? Reason, string? Message)
{
    public bool IsValid => Bundle is not null;

    public static BundleVerification Fail(string reason, string message) => new(null, reason, message);
}

/// <summary>
/// Verifies signed bundles against a JWKS in OPA's order: signature, then the exact file set, then each hash;
/// then Aegis's own checks (tenant and revision). Every refusal names its reason.
/// </summary>
public sealed class BundleVerifier
{
    private readonly JsonWebKeySet _keys;

    public BundleVerifier(JsonWebKeySet keys) => _keys = keys;

    /// <summary>Verifies <paramref name="archive"/>; when <paramref name="expectedTenant"/> is given the bundle must be that tenant's.</summary>
    public BundleVerification Verify(byte[] archive, string? expectedTenant = null)
    {
        Dictionary<string, byte[]> files;
        try
        {
            files = BundleArchive.Unpack(archive);
        }
        catch (BundleSizeException e)
        {
            return BundleVerification.Fail(BundleRejection.TooLarge, e.Message);
        }
        catch (InvalidDataException e)
        {
            return BundleVerification.Fail(BundleRejection.Malformed, e.Message);
        }

        if (!files.Remove(BundleLayout.Signatures, out var signaturesJson))
        {
            return BundleVerification.Fail(BundleRejection.NoSignature, "the bundle has no .signatures.json");
        }

        if (!TryReadSignature(signaturesJson, out var token, out var error))
        {
            return BundleVerification.Fail(BundleRejection.NoSignature, error);
        }

        if (!CompactJws.TryParse(token, out var jws, out error))
        {
            return BundleVerification.Fail(BundleRejection.SignatureInvalid, ".signatures.json: " + error);
        }

        if (jws.KeyId is null)
        {
            return BundleVerification.Fail(BundleRejection.UnknownKid, "the bundle signature names no key (kid)");
        }

        var lookup = _keys.Find(jws.KeyId, KeyPurpose.Bundle);
        if (lookup.Status == KeyLookupStatus.PurposeMismatch)
        {
            return BundleVerification.Fail(BundleRejection.KeyPurposeMismatch, "the bundle signature's " + lookup.Message);
        }

        if (lookup.PublicKey is not { } publicKey)
        {
            return BundleVerification.Fail(BundleRejection.UnknownKid, $"the bundle is signed with key \"{jws.KeyId}\", which is not in the JWKS");
        }

        if (jws.Algorithm != "EdDSA")
        {
            return BundleVerification.Fail(BundleRejection.SignatureInvalid, $"the bundle signature uses alg \"{jws.Algorithm}\"; only EdDSA is accepted");
        }

        if (!jws.VerifyEd25519(publicKey))
        {
            return BundleVerification.Fail(BundleRejection.SignatureInvalid, $"the bundle signature does not verify with key \"{jws.KeyId}\"");
        }

        if (!TryReadSignedFiles(jws.Payload, out var signed, out error))
        {
            return BundleVerification.Fail(BundleRejection.SignatureInvalid, error);
        }

        foreach (var (name, bytes) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            if (!signed.Remove(name, out var expected))
            {
                return BundleVerification.Fail(BundleRejection.FileNotSigned, $"file \"{name}\" is not listed in the bundle signature");
            }

            string actual;
            try
            {
                actual = BundleArchive.FileHash(name, bytes);
            }
            catch (JsonException e)
            {
                return BundleVerification.Fail(BundleRejection.Malformed, $"file \"{name}\" is not valid JSON: {e.Message}");
            }

            if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
            {
                return BundleVerification.Fail(BundleRejection.FileHashMismatch, $"file \"{name}\": digest mismatch (signed {expected}, got {actual})");
            }
        }

        if (signed.Count > 0)
        {
            return BundleVerification.Fail(BundleRejection.FileMissing, $"file(s) {string.Join(", ", signed.Keys.Order(StringComparer.Ordinal))} are listed in the bundle signature but not in the bundle");
        }

        return CheckContent(files, expectedTenant, jws.KeyId);
    }

    private static BundleVerification CheckContent(Dictionary<string, byte[]> files, string? expectedTenant, string keyId)
    {
        if (!files.TryGetValue(BundleLayout.Manifest, out var manifestJson) || !files.TryGetValue(BundleLayout.Data, out var dataJson))
        {
            return BundleVerification.Fail(BundleRejection.FileMissing, "the bundle must hold .manifest and data.json");
        }

        BundleManifest manifest;
        BundleData document;
        try
        {
            // The schema version first: a newer format is refused by name, not as whatever its fields fail to parse as.
            using (var head = JsonDocument.Parse(manifestJson))
            {
                if (head.RootElement.ValueKind != JsonValueKind.Object || !head.RootElement.TryGetProperty("schemaVersion", out var version)
                    || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var schema))
                {
                    return BundleVerification.Fail(BundleRejection.SchemaUnsupported, ".manifest names no schemaVersion (bundles before schema 1 are not read)");
                }

                if (!BundleFormat.SupportedSchemaVersions.Contains(schema))
                {
                    return BundleVerification.Fail(BundleRejection.SchemaUnsupported,
                        $"schemaVersion {schema} is not one this decision server reads ({string.Join(", ", BundleFormat.SupportedSchemaVersions)})");
                }
            }

            manifest = JsonSerializer.Deserialize<BundleManifest>(manifestJson, BundleFormat.Json)
                ?? throw new JsonException(".manifest is null");
            using var data = JsonDocument.Parse(dataJson);
            if (!data.RootElement.TryGetProperty(BundleFormat.Root, out var root))
            {
                return BundleVerification.Fail(BundleRejection.Malformed, $"data.json has no root \"{BundleFormat.Root}\"");
            }

            if (!root.TryGetProperty("schemaVersion", out var dataVersion) || dataVersion.ValueKind != JsonValueKind.Number || dataVersion.GetInt32() != manifest.SchemaVersion)
            {
                return BundleVerification.Fail(BundleRejection.SchemaUnsupported, $"data.json's schemaVersion does not match the manifest's ({manifest.SchemaVersion})");
            }

            document = root.Deserialize<BundleData>(BundleFormat.Json) ?? throw new JsonException("data is null");
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            return BundleVerification.Fail(BundleRejection.Malformed, "bundle content does not match the Aegis bundle format: " + e.Message);
        }

        if (manifest.Metadata.Tenant != document.Tenant || (expectedTenant is not null && expectedTenant != document.Tenant))
        {
            return BundleVerification.Fail(BundleRejection.TenantMismatch,
                $"manifest tenant \"{manifest.Metadata.Tenant}\", data tenant \"{document.Tenant}\"" + (expectedTenant is null ? "" : $", expected \"{expectedTenant}\""));
        }

        var revision = BundleCompiler.ComputeRevision(CanonicalJson.Canonicalize(dataJson),
            CanonicalJson.SerializeValue(manifest.Metadata, BundleFormat.Json));
        if (revision != manifest.Revision)
        {
            return BundleVerification.Fail(BundleRejection.RevisionMismatch, $"manifest revision {manifest.Revision} does not match the content ({revision})");
        }

        return new BundleVerification(new VerifiedBundle(document.Tenant, revision, manifest, document, keyId), null, null);
    }

    private static bool TryReadSignature(byte[] json, out string token, out string error)
    {
        token = "";
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("signatures", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            {
                error = ".signatures.json holds no signature";
                return false;
            }

            if (list.GetArrayLength() > 1 || list[0].ValueKind != JsonValueKind.String)
            {
                error = ".signatures.json must hold exactly one JWS string";
                return false;
            }

            token = list[0].GetString()!;
            error = "";
            return true;
        }
        catch (JsonException e)
        {
            error = ".signatures.json is not valid JSON: " + e.Message;
            return false;
        }
    }

    private static bool TryReadSignedFiles(byte[] payload, out Dictionary<string, string> files, out string error)
    {
        files = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(payload);
            if (!doc.RootElement.TryGetProperty("files", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                error = "the signature payload has no files list";
                return false;
            }

            foreach (var file in list.EnumerateArray())
            {
                var name = file.GetProperty("name").GetString()!.TrimStart('/');
                var algorithm = file.TryGetProperty("algorithm", out var a) ? a.GetString() : null;
                if (algorithm != "SHA-256")
                {
                    error = $"file \"{name}\" is hashed with \"{algorithm}\"; only SHA-256 is accepted";
                    return false;
                }

                if (!files.TryAdd(name, file.GetProperty("hash").GetString()!))
                {
                    error = $"file \"{name}\" is listed twice in the signature";
                    return false;
                }
            }

            error = "";
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            error = "the signature payload is malformed: " + e.Message;
            return false;
        }
    }
}
