using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>
/// The real <c>aegis</c> CLI as a child process (the built aegis.dll beside the tests, through <c>dotnet</c>), with its
/// output captured and POSIX signals sent with coreutils' <c>kill</c>, the way a terminal or the kubelet would.
/// </summary>
internal sealed class AegisProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    private AegisProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => process.Id;

    /// <summary>Everything the process printed so far, stdout and stderr interleaved.</summary>
    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>Starts <c>aegis ARGS</c>.</summary>
    public static AegisProcess Start(params string[] args) =>
        StartCommand(["dotnet", Path.Combine(AppContext.BaseDirectory, "aegis.dll"), .. args], newProcessGroup: false);

    /// <summary>
    /// Starts a command line in a process that takes SIGINT and SIGTERM with their default actions (a test host started
    /// from a non-interactive shell's background job inherits SIGINT ignored, which a terminal's child never has);
    /// with <paramref name="newProcessGroup"/> it leads a process group of its own, as a terminal's foreground job does.
    /// </summary>
    public static AegisProcess StartCommand(IReadOnlyList<string> commandLine, bool newProcessGroup)
    {
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryPaths.Root,
        };
        start.ArgumentList.Add("--default-signal=INT,TERM");
        if (newProcessGroup)
        {
            start.ArgumentList.Add("setsid");
        }

        foreach (var arg in commandLine)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        return new AegisProcess(Process.Start(start)!);
    }

    /// <summary>Waits until the output matches <paramref name="pattern"/>; returns the match.</summary>
    public async Task<Match> WaitForAsync(string pattern, string what, TimeSpan? within = null)
    {
        var match = Match.Empty;
        await Eventually.TrueAsync(() => (match = Regex.Match(Output, pattern)).Success || process.HasExited, what, within ?? TimeSpan.FromSeconds(60));
        Assert.True(match.Success, $"{what}: the process exited first\n{Output}");
        return match;
    }

    /// <summary>Sends a signal (TERM, INT) to the process, or with <paramref name="group"/> to its whole process group.</summary>
    public async Task SignalAsync(string signal, bool group = false)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, "--", group ? "-" + Id : Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The exit code, failing the test when the process is still running after <paramref name="within"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"still running {within.TotalSeconds:0.#} s later\n{Output}");
        }

        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }
}
