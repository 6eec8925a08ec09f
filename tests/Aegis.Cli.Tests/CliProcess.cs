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
internal sealed class CliProcess : IDisposable
{
    public const int SigInt = 2;
    public const int SigTerm = 15;

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
    public static CliProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "aegis.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

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

    /// <summary>Waits until stdout matches <paramref name="pattern"/> and returns the match.</summary>
    public async Task<Match> WaitForAsync(string pattern, string what)
    {
        var match = Match.Empty;
        await Eventually.TrueAsync(() => (match = Regex.Match(Out, pattern)).Success || HasExited, what, TimeSpan.FromSeconds(60));
        return match.Success ? match : throw new InvalidOperationException($"{what}: the process exited ({ExitCode})\n{Out}\n{Error}");
    }

    /// <summary>Sends <paramref name="signal"/> with kill(1) (.NET's Process.Kill only sends SIGKILL).</summary>
    public void Signal(int signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [$"-{signal.ToString(CultureInfo.InvariantCulture)}", _process.Id.ToString(CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("kill did not start");
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {_process.Id} exited {kill.ExitCode}");
        }
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
