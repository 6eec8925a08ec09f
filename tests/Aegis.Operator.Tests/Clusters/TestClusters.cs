using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using DotNet.Testcontainers.Builders;
using k8s;
using k8s.Models;
using Testcontainers.K3s;

namespace Aegis.Operator.Tests.Clusters;

/// <summary>A Kubernetes API with the Aegis CRDs installed, shared by the tests of one class.</summary>
public interface IClusterFixture
{
    /// <summary>The client, or null when this cluster cannot run here.</summary>
    Kubernetes? Client { get; }

    /// <summary>Why <see cref="Client"/> is null.</summary>
    string SkipReason { get; }
}

/// <summary>The in-process API server (always available).</summary>
public sealed class TestServerCluster : IClusterFixture, IAsyncLifetime
{
    private KubernetesTestServer? _server;

    public Kubernetes? Client { get; private set; }

    public string SkipReason => "";

    public async ValueTask InitializeAsync()
    {
        _server = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        Client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url });
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>
/// A real single-node cluster (k3s in Docker, Testcontainers.K3s) with <c>crds/</c> applied. Where no Docker engine
/// answers, every test of the class skips with that reason; CI machines with Docker, and developers' laptops, run it.
/// </summary>
public sealed class K3sCluster : IClusterFixture, IAsyncLifetime
{
    private const string Image = "rancher/k3s:v1.32.3-k3s1";
    private K3sContainer? _container;

    public Kubernetes? Client { get; private set; }

    public string SkipReason { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        try
        {
            _container = new K3sBuilder(Image).Build();
            await _container.StartAsync();
        }
        catch (DockerUnavailableException e)
        {
            SkipReason = $"no Docker engine answers here ({e.Message.Split('\n')[0]}); this real-cluster suite runs wherever Docker runs (`make test` on a laptop or a CI runner with Docker) against {Image}";
            return;
        }

        var kubeconfig = await _container.GetKubeconfigAsync();
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(kubeconfig));
        Client = new Kubernetes(await KubernetesClientConfiguration.BuildConfigFromConfigFileAsync(stream));
        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"))
        {
            var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(await File.ReadAllTextAsync(file));
            await Client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd);
            await Eventually.TrueAsync(async () =>
                (await Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name)).Status?.Conditions?.Any(c => c.Type == "Established" && c.Status == "True") == true,
                $"CRD {crd.Metadata.Name} established", TimeSpan.FromSeconds(60));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }
}
