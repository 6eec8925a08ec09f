using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Aegis.Decision.Hosting;

/// <summary>Where the decision server's serving certificate comes from, and how often the files are reread.</summary>
public sealed record DecisionTlsFiles
{
    /// <summary>PEM certificate (chain) file, such as the <c>tls.crt</c> of a mounted kubernetes.io/tls Secret.</summary>
    public required string CertificatePath { get; init; }

    /// <summary>PEM private key file (<c>tls.key</c>).</summary>
    public required string KeyPath { get; init; }

    /// <summary>How often the files are checked for a rotated certificate (the kubelet updates mounted Secrets within about a minute).</summary>
    public TimeSpan ReloadInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Also serve the HTTP API (JSON decide, health, metrics) over TLS; probes then need <c>scheme: HTTPS</c>.</summary>
    public bool ApplyToHttp { get; init; }
}

/// <summary>
/// The decision server's serving certificate, read from PEM files and reread every
/// <see cref="DecisionTlsFiles.ReloadInterval"/>: Kestrel's certificate selector reads <see cref="Current"/> on every
/// handshake, so a rotated certificate serves the next connection without a restart. A pair that cannot be read
/// keeps the previous certificate in use (and is logged); at start it is an error.
/// </summary>
public sealed partial class ServingCertificateFiles(DecisionTlsFiles files, TimeProvider time, ILogger<ServingCertificateFiles> logger) : BackgroundService
{
    private readonly Lock _lock = new();
    private volatile X509Certificate2? _current;
    private X509Certificate2? _previous;
    private string? _loaded;

    /// <summary>The certificate to present (null only before <see cref="LoadInitial"/>).</summary>
    public X509Certificate2? Current => _current;

    /// <summary>Reads the files once; throws <see cref="InvalidOperationException"/> naming the file when they are not a usable pair.</summary>
    public void LoadInitial()
    {
        if (Reload() is { } problem)
        {
            throw new InvalidOperationException(problem);
        }
    }

    /// <summary>Rereads the files and switches when they changed; returns what is wrong with them, or null.</summary>
    public string? Reload()
    {
        string certificatePem, keyPem;
        try
        {
            certificatePem = File.ReadAllText(files.CertificatePath);
            keyPem = File.ReadAllText(files.KeyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"TLS certificate {files.CertificatePath} / key {files.KeyPath}: cannot be read: {e.Message}";
        }

        lock (_lock)
        {
            if (_loaded == certificatePem + keyPem)
            {
                return null;
            }

            X509Certificate2 next;
            try
            {
                next = X509Certificate2.CreateFromPem(certificatePem, keyPem);
            }
            catch (CryptographicException e)
            {
                return $"TLS certificate {files.CertificatePath} / key {files.KeyPath}: not a PEM certificate and its private key: {e.Message}";
            }

            // Keep one previous certificate alive: a handshake that read it a moment ago may still be using it.
            _previous?.Dispose();
            _previous = _current;
            _current = next;
            _loaded = certificatePem + keyPem;
            LogLoaded(logger, files.CertificatePath, next.Subject, next.NotAfter);
            return null;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(files.ReloadInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (Reload() is { } problem)
            {
                LogReloadFailed(logger, problem);
            }
        }
    }

    public override void Dispose()
    {
        _previous?.Dispose();
        _current?.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "serving certificate from {Path}: {Subject}, valid until {NotAfter:u}")]
    private static partial void LogLoaded(ILogger logger, string path, string subject, DateTime notAfter);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Problem}; keeping the certificate in use")]
    private static partial void LogReloadFailed(ILogger logger, string problem);
}
