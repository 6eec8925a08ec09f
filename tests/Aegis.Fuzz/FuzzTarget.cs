namespace Aegis.Fuzz;

/// <summary>
/// One parser entry point under fuzz. <see cref="Run"/> feeds it an input the way its server or command would and
/// catches only the exceptions that parser's contract names; any other exception escaping is a crash.
/// </summary>
public sealed class FuzzTarget
{
    public required string Name { get; init; }

    /// <summary>What is fuzzed, for <c>--list</c> and the report.</summary>
    public required string Description { get; init; }

    public required Action<byte[]> Run { get; init; }

    /// <summary>
    /// Fails the input when a decision came back as the catch-all <c>internal_error</c>: the decision service turns any
    /// exception into that denial (fail closed), which would otherwise hide from the fuzzer the bug that threw it.
    /// </summary>
    public static void NoInternalError(string? reason, string? message)
    {
        if (reason == "internal_error")
        {
            throw new InvalidOperationException("the decision was internal_error (an exception caught inside): " + message);
        }
    }

    /// <summary>Runs one input in process; the crash (the escaped exception) or null.</summary>
    public string? Replay(byte[] input)
    {
        try
        {
            Run(input);
            return null;
        }
        catch (Exception e)
        {
            return e.ToString();
        }
    }
}
