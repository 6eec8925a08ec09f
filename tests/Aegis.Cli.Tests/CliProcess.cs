using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>
/// The real <c>aegis</c> CLI as a child process (<c>dotnet aegis.dll</c> built beside the tests), its output captured,
/// with POSIX signals to send it and SIGKILL for tests that must not let it clean up.
/// </summary>
internal sealed class CliProcess : IDisposable, IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();
    private readonly StringBuilder _all = new();

    private CliProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>What the process wrote to stdout so far.</summary>
    public string Out => Read(_out);

    /// <summary>What the process wrote to stderr so far.</summary>
    public string Error => Read(_err);

    /// <summary>Everything the process wrote so far, stdout and stderr interleaved.</summary>
    public string Output => Read(_all).TrimEnd('\n');

    public static CliProcess Start(params string[] args) => Start((IEnumerable<string>)args);

    /// <summary>Starts <c>dotnet aegis.dll args</c> from the test's output folder, with extra environment variables.</summary>
    public static CliProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        StartCommand(["dotnet", Path.Combine(AppContext.BaseDirectory, "aegis.dll"), .. args], newProcessGroup: false, environment);

    /// <summary>
    /// Starts a command line in a process that takes SIGINT and SIGTERM with their default actions (a test host started
    /// from a non-interactive shell's background job inherits SIGINT ignored, which a terminal's child never has);
    /// with <paramref name="newProcessGroup"/> it leads a process group of its own, as a terminal's foreground job does.
    /// </summary>
    public static CliProcess StartCommand(IReadOnlyList<string> commandLine, bool newProcessGroup, IReadOnlyDictionary<string, string>? environment = null)
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
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => cli.Append(cli._out, e.Data);
        process.ErrorDataReceived += (_, e) => cli.Append(cli._err, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Runs to completion (at most <paramref name="within"/>) and returns the exit code.</summary>
    public static async Task<(int Exit, string Out, string Error)> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? within = null)
    {
        using var cli = Start(args, environment);
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(60));
        await cli._process.WaitForExitAsync(timeout.Token);
        return (cli._process.ExitCode, cli.Out, cli.Error);
    }

    /// <summary>Waits until the output (stdout and stderr) matches <paramref name="pattern"/>; returns the match.</summary>
    public async Task<Match> WaitForAsync(string pattern, string what, TimeSpan? within = null)
    {
        var match = Match.Empty;
        await Eventually.TrueAsync(() => (match = Regex.Match(Output, pattern)).Success || HasExited, what, within ?? TimeSpan.FromSeconds(60));
        Assert.True(match.Success, $"{what}: the process exited first\n{Output}");
        return match;
    }

    /// <summary>Sends a signal (TERM, INT) to the process, or with <paramref name="group"/> to its whole process group.</summary>
    public async Task SignalAsync(string signal, bool group = false)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, "--", group ? "-" + Id : Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The exit code, failing the test when the process is still running after <paramref name="within"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"still running {within.TotalSeconds:0.#} s later\n{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>SIGKILL: the process gets no chance to flush, close or sign anything.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public Task WaitForExitAsync(TimeSpan within) => _process.WaitForExitAsync().WaitAsync(within);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private static string Read(StringBuilder buffer)
    {
        lock (buffer)
        {
            return buffer.ToString();
        }
    }

    private void Append(StringBuilder buffer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (buffer)
        {
            buffer.Append(line).Append('\n');
        }

        lock (_all)
        {
            _all.Append(line).Append('\n');
        }
    }
}
