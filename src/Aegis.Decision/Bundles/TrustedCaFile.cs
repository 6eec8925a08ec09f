using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Aegis.Decision.Bundles;

/// <summary>
/// The CA bundle (PEM) a decision server trusts for the operator's HTTPS (bundles, JWKS, approvals), read from a file
/// such as the mounted ConfigMap <c>aegis-operator-ca</c>: certificates are verified against it alone (not the
/// system store), with the host name checked; the file is read again when it changes, so a rotated CA is picked up
/// without a restart.
/// </summary>
public sealed partial class TrustedCaFile(string path, ILogger<TrustedCaFile> logger)
{
    private readonly Lock _lock = new();
    private X509Certificate2Collection _trusted = [];
    private DateTime _loadedStamp = DateTime.MinValue;

    public string Path => path;

    /// <summary>The certificates trusted now (the file as last read; empty when it cannot be read).</summary>
    public X509Certificate2Collection Current
    {
        get
        {
            lock (_lock)
            {
                var stamp = File.Exists(path) ? File.GetLastWriteTimeUtc(path) : DateTime.MinValue;
                if (stamp != _loadedStamp)
                {
                    _loadedStamp = stamp;
                    try
                    {
                        var fresh = new X509Certificate2Collection();
                        fresh.ImportFromPem(File.ReadAllText(path));
                        _trusted = fresh;
                        LogLoaded(logger, path, fresh.Count);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
                    {
                        // Fail closed: no trusted CA, no handshake, the last good bundle keeps serving.
                        _trusted = [];
                        LogUnreadable(logger, path, e.Message);
                    }
                }

                return _trusted;
            }
        }
    }

    /// <summary>True when <paramref name="certificate"/> names the host asked for and chains to a trusted CA.</summary>
    public bool Validate(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        var trusted = Current;
        if (trusted.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    /// <summary>An HTTP handler that trusts only this file's CAs.</summary>
    public HttpMessageHandler Handler() => new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, certificate, _, errors) => Validate(certificate, errors) },
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "trusting {Count} CA certificate(s) from {Path} for the operator's HTTPS")]
    private static partial void LogLoaded(ILogger logger, string path, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CA file {Path} cannot be read ({Reason}); no HTTPS connection to the operator is trusted until it can")]
    private static partial void LogUnreadable(ILogger logger, string path, string reason);
}
