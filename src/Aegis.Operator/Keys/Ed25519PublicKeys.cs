using System.Formats.Asn1;

namespace Aegis.Operator.Keys;

/// <summary>Reads the raw 32-byte Ed25519 key out of the SubjectPublicKeyInfo that KMS services return.</summary>
public static class Ed25519PublicKeys
{
    private const string Ed25519Oid = "1.3.101.112";

    /// <summary>The raw key from DER SubjectPublicKeyInfo (RFC 8410); throws <see cref="FormatException"/> for anything else.</summary>
    public static byte[] FromSubjectPublicKeyInfo(ReadOnlySpan<byte> der)
    {
        try
        {
            var reader = new AsnReader(der.ToArray(), AsnEncodingRules.DER);
            var spki = reader.ReadSequence();
            var algorithm = spki.ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            if (oid != Ed25519Oid)
            {
                throw new FormatException($"the public key's algorithm is {oid}, not Ed25519 ({Ed25519Oid})");
            }

            var key = spki.ReadBitString(out var unused);
            return unused != 0 || key.Length != 32
                ? throw new FormatException($"an Ed25519 public key has 32 bytes; this one has {key.Length}")
                : key;
        }
        catch (AsnContentException e)
        {
            throw new FormatException("the public key is not DER SubjectPublicKeyInfo: " + e.Message, e);
        }
    }

    /// <summary>The raw key from a PEM "PUBLIC KEY" block.</summary>
    public static byte[] FromPem(string pem)
    {
        if (!System.Security.Cryptography.PemEncoding.TryFind(pem, out var fields) || pem[fields.Label] != "PUBLIC KEY")
        {
            throw new FormatException("not a PEM \"PUBLIC KEY\" block");
        }

        return FromSubjectPublicKeyInfo(Convert.FromBase64String(pem[fields.Base64Data]));
    }
}
