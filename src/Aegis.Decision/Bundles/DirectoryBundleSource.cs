namespace Aegis.Decision.Bundles;

/// <summary>
/// Loads <c>&lt;tenant&gt;.tar.gz</c> bundles from a folder, at start and whenever the folder changes (file
/// events, with a periodic rescan because events can be lost, for example on network file systems).
/// </summary>
public sealed partial class DirectoryBundleSource(string directory, BundleStore store, TimeSpan rescan, ILogger<DirectoryBundleSource> logger) : BackgroundService
{
    private const string Suffix = ".tar.gz";
    private readonly Dictionary<string, (DateTime Modified, long Length)> _seen = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changed = new(0);

    /// <summary>Reads every bundle file once; returns how many tenants were offered a bundle.</summary>
    public int ScanOnce()
    {
        if (!Directory.Exists(directory))
        {
            LogMissing(logger, directory);
            return 0;
        }

        var offered = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*" + Suffix))
        {
            var info = new FileInfo(file);
            var stamp = (info.LastWriteTimeUtc, info.Length);
            if (_seen.TryGetValue(file, out var previous) && previous == stamp)
            {
                continue;
            }

            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (IOException e)
            {
                // Being written right now: the next event or rescan picks it up.
                LogUnreadable(logger, file, e.Message);
                continue;
            }

            _seen[file] = stamp;
            var tenant = info.Name[..^Suffix.Length];
            store.Offer(tenant, bytes, file);
            offered++;
        }

        return offered;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var watcher = Directory.Exists(directory) ? new FileSystemWatcher(directory, "*" + Suffix) : null;
        if (watcher is not null)
        {
            watcher.Changed += (_, _) => Signal();
            watcher.Created += (_, _) => Signal();
            watcher.Renamed += (_, _) => Signal();
            watcher.EnableRaisingEvents = true;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            ScanOnce();
            try
            {
                await _changed.WaitAsync(rescan, stoppingToken).ConfigureAwait(false);

                // Writers replace files in steps; let a burst of events settle into one scan.
                await Task.Delay(TimeSpan.FromMilliseconds(50), stoppingToken).ConfigureAwait(false);
                while (_changed.CurrentCount > 0)
                {
                    await _changed.WaitAsync(stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Signal()
    {
        try
        {
            _changed.Release();
        }
        catch (ObjectDisposedException)
        {
            // A file event that arrives while the source shuts down has nothing left to wake.
        }
    }

    public override void Dispose()
    {
        _changed.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "bundle directory {Directory} does not exist; no bundles loaded from it")]
    private static partial void LogMissing(ILogger logger, string directory);

    [LoggerMessage(Level = LogLevel.Debug, Message = "bundle file {File} could not be read yet: {Reason}")]
    private static partial void LogUnreadable(ILogger logger, string file, string reason);
}
