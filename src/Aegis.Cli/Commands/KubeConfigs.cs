using k8s;

namespace Aegis.Cli.Commands;

/// <summary>The cluster a command talks to: <c>--kubeconfig</c>, else the in-cluster configuration, else ~/.kube/config.</summary>
internal static class KubeConfigs
{
    public static KubernetesClientConfiguration Resolve(FileInfo? file) =>
        file is not null ? KubernetesClientConfiguration.BuildConfigFromConfigFile(file.FullName)
        : KubernetesClientConfiguration.IsInCluster() ? KubernetesClientConfiguration.InClusterConfig()
        : KubernetesClientConfiguration.BuildDefaultConfig();

    /// <summary><see cref="Resolve"/>, or null after saying on stderr why no configuration is usable.</summary>
    public static KubernetesClientConfiguration? TryResolve(FileInfo? file, CliConsole console)
    {
        try
        {
            return Resolve(file);
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            console.Error.WriteLine($"no usable Kubernetes configuration: {e.Message}");
            return null;
        }
    }
}
