using System.CommandLine;
using Aegis.Cli.Commands;

namespace Aegis.Cli;

/// <summary>The <c>aegis</c> command line: validate, compile, verify, keys, eval and test.</summary>
public static class AegisCommand
{
    /// <summary>Exit code for a run whose input was wrong (bad file, bad flag, bad JSON).</summary>
    public const int BadInput = 2;

    /// <summary>Runs the command with its output going to the given writers; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var console = new CliConsole(stdout, stderr);
        var root = new RootCommand("aegis: compile, sign, verify and evaluate Aegis agent policies")
        {
            ValidateCommand.Create(console),
            CompileCommand.Create(console),
            VerifyCommand.Create(console),
            KeysCommand.Create(console),
            EvalCommand.Create(console),
            TestCommand.Create(console),
            ServeCommand.Create(console),
            TokenCommand.Create(console),
            TokensCommand.Create(console),
            AuditCommand.Create(console),
            CoverageCommand.Create(console),
            CrdsCommand.Create(console),
            OperatorCommand.Create(console),
            ApprovalCommands.Approve(console),
            ApprovalCommands.Deny(console),
            ApprovalCommands.List(console),
        };
        var parse = root.Parse(args);
        var exit = await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancellationToken).ConfigureAwait(false);
        return parse.Errors.Count > 0 ? BadInput : exit;
    }
}

/// <summary>Where a command writes: standard output for results, standard error for diagnostics.</summary>
public sealed record CliConsole(TextWriter Out, TextWriter Error);
