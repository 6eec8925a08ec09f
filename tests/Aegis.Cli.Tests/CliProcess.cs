using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

/// <summary>The real aegis CLI as a child process (dotnet aegis.dll), its output captured, for tests that kill it.</summary>
internal sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();

    private CliProcess(Process process)
    {
        _process = process;
    }

    public string Out
    {
        get
        {
            lock (_out)
            {
                return _out.ToString();
            }
        }
    }

    public string Error
    {
        get
        {
            lock (_err)
            {
                return _err.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

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
        process.OutputDataReceived += (_, e) => Append(cli._out, e.Data);
        process.ErrorDataReceived += (_, e) => Append(cli._err, e.Data);
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

    /// <summary>SIGKILL: the process gets no chance to flush, close or sign anything.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static void Append(StringBuilder buffer, string? line)
    {
        if (line is not null)
        {
            lock (buffer)
            {
                buffer.Append(line).Append('\n');
            }
        }
    }
}
