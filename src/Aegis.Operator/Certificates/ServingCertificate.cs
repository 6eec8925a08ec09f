using System.Security.Cryptography.X509Certificates;

namespace Aegis.Operator.Certificates;

/// <summary>
/// The webhook's current serving certificate; Kestrel's certificate selector reads it on every handshake, so a
/// rotated certificate is used by the next connection without a restart.
/// </summary>
public sealed class ServingCertificate : IDisposable
{
    private readonly Lock _lock = new();
    private volatile X509Certificate2? _current;
    private X509Certificate2? _previous;
    private string? _loadedPem;

    /// <summary>The certificate to present, or null until one has been loaded (handshakes fail until then).</summary>
    public X509Certificate2? Current => _current;

    /// <summary>Switches to the PEM pair unless it is the one already loaded.</summary>
    public void Load(PemPair pair)
    {
        lock (_lock)
        {
            if (_loadedPem == pair.CertificatePem)
            {
                return;
            }

            // Keep one previous certificate alive: a handshake that read it a moment ago may still be using it.
            _previous?.Dispose();
            _previous = _current;
            _current = X509Certificate2.CreateFromPem(pair.CertificatePem, pair.KeyPem);
            _loadedPem = pair.CertificatePem;
        }
    }

    public void Dispose()
    {
        _previous?.Dispose();
        _current?.Dispose();
    }
}
