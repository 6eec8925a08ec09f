using System.Runtime.InteropServices;

namespace Aegis.Cli.Shutdown;

/// <summary>
/// SIGINT and SIGTERM for a command that drains before it exits (<c>aegis serve</c>): the first signal cancels
/// <see cref="Token"/> and the command drains and exits 0; a second SIGINT (Ctrl+C again) exits at once with 130.
/// </summary>
/// <remarks>
/// .NET runs the handlers of one signal newest first and stops at the first that cancels the default action, so this
/// registration (made when the command starts) answers before System.CommandLine's, whose fixed 2 s grace would cut
/// the drain and exit 130/143. A host built later must not add its own console lifetime, or it would answer first.
/// </remarks>
internal sealed class ShutdownSignals : IDisposable
{
    /// <summary>The exit code of a process stopped by a second interrupt: 128 + SIGINT, as shells report it.</summary>
    public const int InterruptedExitCode = 130;

    private readonly CancellationTokenSource stop;
    private readonly TextWriter error;
    private readonly Action<int> exit;
    private readonly PosixSignalRegistration interrupt;
    private readonly PosixSignalRegistration terminate;
    private int received;

    /// <param name="error">Where the second interrupt is announced.</param>
    /// <param name="exit">Ends the process; <see cref="Environment.Exit"/> unless a test replaces it.</param>
    /// <param name="outer">Also stops the command (the caller's token, as in-process tests use).</param>
    public ShutdownSignals(TextWriter error, Action<int>? exit = null, CancellationToken outer = default)
    {
        stop = CancellationTokenSource.CreateLinkedTokenSource(outer);
        this.error = error;
        this.exit = exit ?? Environment.Exit;
        interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first signal (or the outer token).</summary>
    public CancellationToken Token => stop.Token;

    /// <summary>The first signal received ("SIGTERM", "SIGINT"), or null when the stop came from the outer token.</summary>
    public string? Signal { get; private set; }

    public void Dispose()
    {
        interrupt.Dispose();
        terminate.Dispose();
        stop.Dispose();
    }

    /// <summary>Handles one signal (internal so tests can deliver one without signalling their own process).</summary>
    internal void OnSignal(PosixSignalContext context)
    {
        // The command decides when the process ends, not the runtime's default action.
        context.Cancel = true;
        if (Interlocked.Increment(ref received) == 1)
        {
            Signal = context.Signal.ToString();
            stop.Cancel();
            return;
        }

        // A repeated SIGTERM (a supervisor signalling both the process group and the process) changes nothing: the
        // drain has its own deadline. Only a person pressing Ctrl+C again asks to skip it.
        if (context.Signal == PosixSignal.SIGINT)
        {
            error.WriteLine("interrupted again: exiting at once, calls still in flight are cut");
            error.Flush();
            exit(InterruptedExitCode);
        }
    }
}
