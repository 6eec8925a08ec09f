namespace Aegis.Decision.Hosting;

/// <summary>
/// A host lifetime that leaves process signals to whoever embeds the server. The default console lifetime would take
/// SIGINT and SIGTERM for itself (cancelling every other handler) and only request a stop that nobody awaits, since the
/// server is started with StartAsync: the process logged "Application is shutting down..." and kept running.
/// </summary>
internal sealed class EmbeddedHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
