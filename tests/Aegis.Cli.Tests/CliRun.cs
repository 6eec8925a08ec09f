namespace Aegis.Cli.Tests;

/// <summary>Runs the aegis command in process and captures its output.</summary>
internal sealed record CliRun(int ExitCode, string Out, string Error)
{
    public static async Task<CliRun> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await AegisCommand.RunAsync(args, stdout, stderr);
        return new CliRun(exit, stdout.ToString(), stderr.ToString());
    }

    public override string ToString() => $"exit {ExitCode}\n--- out\n{Out}\n--- err\n{Error}";
}
