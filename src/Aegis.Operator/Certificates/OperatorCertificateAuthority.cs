using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Aegis.Operator.Certificates;

/// <summary>A certificate and its private key, both PEM.</summary>
public sealed record PemPair(string CertificatePem, string KeyPem)
{
    public X509Certificate2 Certificate() => X509Certificate2.CreateFromPem(CertificatePem);
}

/// <summary>
/// The operator's small PKI (System.Security.Cryptography, ECDSA P-256): self-signed CAs (one the webhook's caBundle
/// trusts, one the sidecars trust for the decision server) and serving certificates for a Service's DNS names.
/// </summary>
public static class OperatorCertificateAuthority
{
    /// <summary>Renew once less than this share of a certificate's lifetime is left (cert-manager's default, too).</summary>
    public const double RenewWhenRemaining = 1.0 / 3;

    /// <param name="now">Issue time; the CA is valid from five minutes before (clock skew).</param>
    /// <param name="lifetime">How long the CA is valid.</param>
    /// <param name="name">Common name prefix, e.g. aegis-webhook-ca (the issue time is appended).</param>
    public static PemPair CreateCa(DateTimeOffset now, TimeSpan lifetime, string name = "aegis-webhook-ca")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}-{now.ToUnixTimeSeconds()}, O=aegis", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now + lifetime);
        return new PemPair(ca.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A serving certificate for <paramref name="dnsNames"/>, never outliving the CA that signs it.</summary>
    public static PemPair IssueServing(PemPair ca, IReadOnlyList<string> dnsNames, DateTimeOffset now, TimeSpan lifetime)
    {
        using var caCert = X509Certificate2.CreateFromPem(ca.CertificatePem, ca.KeyPem);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsNames[0]}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            names.AddDnsName(name);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caCert, true, false));
        var notAfter = now + lifetime < caCert.NotAfter ? now + lifetime : new DateTimeOffset(caCert.NotAfter);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(caCert, now.AddMinutes(-5), notAfter, serial);
        return new PemPair(issued.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>True when less than a third of the certificate's lifetime is left (or it is already expired).</summary>
    public static bool NeedsRenewal(X509Certificate2 certificate, DateTimeOffset now)
    {
        var notBefore = new DateTimeOffset(certificate.NotBefore);
        var notAfter = new DateTimeOffset(certificate.NotAfter);
        return notAfter - now < (notAfter - notBefore) * RenewWhenRemaining;
    }

    /// <summary>True when <paramref name="certificate"/> is signed by <paramref name="ca"/>'s key.</summary>
    public static bool IsIssuedBy(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        return chain.Build(certificate);
    }

    /// <summary>True when the certificate names exactly these DNS names.</summary>
    public static bool Names(X509Certificate2 certificate, IReadOnlyList<string> dnsNames) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SingleOrDefault()?.EnumerateDnsNames().Order(StringComparer.Ordinal)
            .SequenceEqual(dnsNames.Order(StringComparer.Ordinal)) == true;

    /// <summary>True when <paramref name="certificate"/> holds the public half of <paramref name="keyPem"/> (a PKCS#8 ECDSA key).</summary>
    public static bool HoldsKey(X509Certificate2 certificate, string keyPem)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(keyPem);
        using var publicKey = certificate.GetECDsaPublicKey();
        return publicKey is not null && publicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo());
    }

    /// <summary>The certificates in a PEM bundle.</summary>
    public static X509Certificate2Collection ReadBundle(string pem)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPem(pem);
        return collection;
    }
}
