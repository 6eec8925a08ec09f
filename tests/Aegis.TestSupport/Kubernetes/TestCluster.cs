using k8s;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>A test API server with the CRDs of crds/ installed, and a KubernetesClient for it.</summary>
public sealed class TestCluster : IAsyncDisposable
{
    private TestCluster(KubernetesTestServer server, k8s.Kubernetes client)
    {
        Server = server;
        Client = client;
    }

    public KubernetesTestServer Server { get; }

    public k8s.Kubernetes Client { get; }

    public static async Task<TestCluster> StartAsync()
    {
        var server = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        return new TestCluster(server, new k8s.Kubernetes(new KubernetesClientConfiguration { Host = server.Url }));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }
}
