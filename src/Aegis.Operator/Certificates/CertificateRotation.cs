using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Aegis.Operator.Certificates;

/// <summary>Lifetimes, names, and how long a new CA is trusted before it signs the serving certificate.</summary>
public sealed record RotationPolicy
{
    /// <summary>The Service's DNS names, which the serving certificate carries and clients check.</summary>
    public required IReadOnlyList<string> DnsNames { get; init; }

    /// <summary>Common name prefix of the CAs (the issue time is appended).</summary>
    public required string CaName { get; init; }

    public TimeSpan CaLifetime { get; init; } = TimeSpan.FromDays(5 * 365);

    public TimeSpan ServingLifetime { get; init; } = TimeSpan.FromDays(365);

    /// <summary>
    /// How long a new CA sits in the published bundle before the serving certificate moves to it. Zero suits clients
    /// that reread the bundle (the API server reads the caBundle on every call); clients that copied the bundle when
    /// they started (sidecars) need long enough that the ones that only know the old CA are gone.
    /// </summary>
    public TimeSpan PromoteAfter { get; init; } = TimeSpan.Zero;
}

/// <summary>What a TLS Secret holds: the serving certificate, the CA that signs it, a CA waiting to take over, and the trusted bundle.</summary>
public sealed record TlsMaterial
{
    public const string CertificateKey = "tls.crt";
    public const string PrivateKeyKey = "tls.key";
    public const string BundleKey = "ca.crt";
    public const string CaPrivateKeyKey = "ca.key";
    public const string PendingCaPrivateKeyKey = "next-ca.key";

    public required PemPair Leaf { get; init; }

    /// <summary>The CA that signs <see cref="Leaf"/>.</summary>
    public required PemPair ActiveCa { get; init; }

    /// <summary>A newer CA, already in <see cref="Trusted"/>, that signs nothing until it is promoted.</summary>
    public PemPair? PendingCa { get; init; }

    /// <summary>PEM of every CA clients should trust, newest first (the active and pending CAs among them).</summary>
    public required IReadOnlyList<string> Trusted { get; init; }

    /// <summary>The trusted bundle as one PEM text.</summary>
    public string BundlePem => string.Join('\n', Trusted) + "\n";

    /// <summary>The material in a Secret's data, or null when it is missing or unusable (unreadable PEM, a CA key with no certificate in the bundle).</summary>
    public static TlsMaterial? Read(IDictionary<string, byte[]>? data)
    {
        if (data is null || !data.TryGetValue(CertificateKey, out var crt) || !data.TryGetValue(PrivateKeyKey, out var key)
            || !data.TryGetValue(BundleKey, out var bundle) || !data.TryGetValue(CaPrivateKeyKey, out var caKey))
        {
            return null;
        }

        var trusted = OperatorCertificateAuthority.ReadBundle(Encoding.ASCII.GetString(bundle));
        var active = Find(trusted, Encoding.ASCII.GetString(caKey));
        var pending = data.TryGetValue(PendingCaPrivateKeyKey, out var pendingKey) ? Find(trusted, Encoding.ASCII.GetString(pendingKey)) : null;
        return active is null ? null : new TlsMaterial
        {
            Leaf = new PemPair(Encoding.ASCII.GetString(crt), Encoding.ASCII.GetString(key)),
            ActiveCa = active,
            PendingCa = pending,
            Trusted = [.. trusted.Select(c => c.ExportCertificatePem())],
        };
    }

    /// <summary>The Secret data for this material.</summary>
    public Dictionary<string, byte[]> ToData()
    {
        var data = new Dictionary<string, byte[]>
        {
            [CertificateKey] = Encoding.ASCII.GetBytes(Leaf.CertificatePem),
            [PrivateKeyKey] = Encoding.ASCII.GetBytes(Leaf.KeyPem),
            [BundleKey] = Encoding.ASCII.GetBytes(BundlePem),
            [CaPrivateKeyKey] = Encoding.ASCII.GetBytes(ActiveCa.KeyPem),
        };
        if (PendingCa is { } pending)
        {
            data[PendingCaPrivateKeyKey] = Encoding.ASCII.GetBytes(pending.KeyPem);
        }

        return data;
    }

    private static PemPair? Find(X509Certificate2Collection trusted, string keyPem) =>
        trusted.FirstOrDefault(c => OperatorCertificateAuthority.HoldsKey(c, keyPem)) is { } certificate ? new PemPair(certificate.ExportCertificatePem(), keyPem) : null;
}

/// <summary>
/// One step of a CA and serving-certificate rotation that never breaks a client holding a bundle published earlier:
/// a new CA is first added to the bundle beside the active one (pending); only <see cref="RotationPolicy.PromoteAfter"/>
/// later (or when the active CA is about to expire) does it sign the serving certificate; an old CA leaves the bundle
/// when it expires. Each call makes at most one such step, so every state is published before the next.
/// </summary>
public static class CertificateRotation
{
    /// <summary>The next material and what changed, or null when nothing needs to.</summary>
    public static (TlsMaterial Next, string What)? Next(TlsMaterial? current, DateTimeOffset now, RotationPolicy policy)
    {
        using var active = current?.ActiveCa.Certificate();
        if (current is null || active is null || active.NotAfter <= now.UtcDateTime)
        {
            // Nothing usable (or the CA expired while nobody renewed it): start over; nothing can be kept working anyway.
            var freshCa = OperatorCertificateAuthority.CreateCa(now, policy.CaLifetime, policy.CaName);
            return (new TlsMaterial { ActiveCa = freshCa, Leaf = Issue(freshCa, now, policy), Trusted = [freshCa.CertificatePem] }, "a new CA and serving certificate");
        }

        var stillValid = current.Trusted.Where(pem => NotAfter(pem) > now.UtcDateTime).ToList();
        using var leaf = Parse(current.Leaf);
        var leafNeedsRenewal = leaf is null || OperatorCertificateAuthority.NeedsRenewal(leaf, now) || !OperatorCertificateAuthority.IsIssuedBy(leaf, active)
            || !OperatorCertificateAuthority.Names(leaf, policy.DnsNames);

        if (current.PendingCa is null && OperatorCertificateAuthority.NeedsRenewal(active, now))
        {
            // Step 1 of a CA rotation: trust the new CA beside the old; the serving certificate stays with the old CA,
            // which every client trusts already (re-issued from it when due, never outliving it).
            var pending = OperatorCertificateAuthority.CreateCa(now, policy.CaLifetime, policy.CaName);
            return (current with
            {
                PendingCa = pending,
                Trusted = [pending.CertificatePem, .. stillValid],
                Leaf = leafNeedsRenewal ? Issue(current.ActiveCa, now, policy) : current.Leaf,
            }, "a new CA (the current one keeps signing until it is promoted)");
        }

        if (current.PendingCa is { } waiting)
        {
            using var pendingCertificate = waiting.Certificate();
            var lifetime = active.NotAfter - active.NotBefore;
            if (now.UtcDateTime - pendingCertificate.NotBefore >= policy.PromoteAfter || active.NotAfter - now.UtcDateTime <= lifetime / 6)
            {
                return (current with { ActiveCa = waiting, PendingCa = null, Leaf = Issue(waiting, now, policy), Trusted = stillValid },
                    "a serving certificate from the new CA (the old one stays trusted until it expires)");
            }
        }

        if (leafNeedsRenewal)
        {
            return (current with { Leaf = Issue(current.ActiveCa, now, policy), Trusted = stillValid }, "a new serving certificate");
        }

        return stillValid.Count < current.Trusted.Count ? (current with { Trusted = stillValid }, "the bundle without expired CAs") : null;
    }

    private static PemPair Issue(PemPair ca, DateTimeOffset now, RotationPolicy policy) =>
        OperatorCertificateAuthority.IssueServing(ca, policy.DnsNames, now, policy.ServingLifetime);

    private static DateTime NotAfter(string pem)
    {
        using var certificate = X509Certificate2.CreateFromPem(pem);
        return certificate.NotAfter;
    }

    private static X509Certificate2? Parse(PemPair pair)
    {
        try
        {
            return pair.Certificate();
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}
