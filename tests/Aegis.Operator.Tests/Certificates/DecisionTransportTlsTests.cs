using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Aegis.Decision.Hosting;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Operator.Certificates;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using Grpc.Core;
using Grpc.Net.Client;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using AuthorizationClient = Aegis.Decision.Protos.Envoy.Service.Auth.V3.Authorization.AuthorizationClient;

namespace Aegis.Operator.Tests.Certificates;

/// <summary>
/// The sidecar's transport to the decision server, end to end: the operator issues the certificate into its Secret,
/// the decision server serves gRPC with the Secret's files, and a real gRPC client that trusts only the published CA
/// bundle (as the sidecar's Envoy does) and dials the Service name gets answers; one trusting another CA does not.
/// </summary>
/// <summary>
/// A decision server serving the operator-issued certificate, as in a cluster: the rotator writes the Secret, its
/// tls.crt and tls.key are projected into files (as the kubelet does), and the server rereads them.
/// </summary>
internal sealed class DecisionTlsServer : IAsyncDisposable
{
    public const string ServiceHost = "aegis-decision.aegis-system.svc";

    public static readonly DecisionTlsOptions Tls = new() { Namespace = "aegis-system" };

    private readonly TempDirectory _dir = new();
    private KubernetesTestServer _api = null!;
    private Kubernetes _client = null!;
    private RunningDecisionServer _server = null!;

    public DecisionCertificateRotator Rotator { get; private set; } = null!;

    public DecisionTrust Trust { get; } = new();

    /// <summary>The certificate is issued 61 days back (29 of its 90 days left: due), so moving to now renews it.</summary>
    public ManualTime Time { get; } = new(DateTimeOffset.UtcNow.AddDays(-61));

    public string Directory => _dir.Path;

    public int GrpcPort => _server.GrpcPort;

    private string CertificatePath => Path.Combine(_dir.Path, "tls.crt");

    public string KeyPath => Path.Combine(_dir.Path, "tls.key");

    public static async Task<DecisionTlsServer> StartAsync()
    {
        var fixture = new DecisionTlsServer();
        fixture._api = await KubernetesTestServer.StartAsync();
        fixture._client = new Kubernetes(new KubernetesClientConfiguration { Host = fixture._api.Url });
        fixture.Rotator = new DecisionCertificateRotator(fixture._client, Tls, fixture.Trust, fixture.Time, NullLogger<DecisionCertificateRotator>.Instance);
        await fixture.Rotator.ReconcileAsync(CancellationToken.None);
        await fixture.MountSecretAsync();

        using var signer = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        var jwks = Path.Combine(fixture._dir.Path, "jwks.json");
        File.WriteAllText(jwks, new JsonWebKeySet([signer.PublicJwk]).ToJson());
        System.IO.Directory.CreateDirectory(Path.Combine(fixture._dir.Path, "bundles"));
        fixture._server = await DecisionServer.StartAsync(new DecisionServerOptions
        {
            BundleDirectory = Path.Combine(fixture._dir.Path, "bundles"),
            JwksPath = jwks,
            GrpcPort = 0,
            HttpPort = 0,
            Tls = new DecisionTlsFiles { CertificatePath = fixture.CertificatePath, KeyPath = fixture.KeyPath, ReloadInterval = TimeSpan.FromMilliseconds(100) },
        });
        return fixture;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _client.Dispose();
        await _api.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>Writes the Secret's tls.crt and tls.key as the kubelet projects them (atomically replaced).</summary>
    public async Task MountSecretAsync()
    {
        var secret = await _client.CoreV1.ReadNamespacedSecretAsync(Tls.SecretName, Tls.Namespace);
        foreach (var (key, path) in new[] { ("tls.crt", CertificatePath), ("tls.key", KeyPath) })
        {
            File.WriteAllText(path + ".tmp", Encoding.ASCII.GetString(secret.Data[key]));
            File.Move(path + ".tmp", path, overwrite: true);
        }
    }

    /// <summary>A gRPC channel as the sidecar dials: the Service's name (SNI and name check), HTTP/2 over TLS, trusting only <paramref name="trusted"/>.</summary>
    public GrpcChannel Channel(X509Certificate2Collection trusted, string host = ServiceHost)
    {
        return GrpcChannel.ForAddress($"https://{host}:{_server.GrpcPort}", new GrpcChannelOptions { HttpHandler = LoopbackTls.Handler(_server.GrpcPort, trusted), DisposeHttpClient = true });
    }

    /// <summary>The TLS failure under the gRPC and HTTP layers' exceptions.</summary>
    public static Exception? Innermost(Exception? e)
    {
        while (e?.InnerException is { } inner && e is not System.Security.Authentication.AuthenticationException)
        {
            e = inner;
        }

        return e;
    }

    /// <summary>The certificate a fresh handshake is shown (verified as the sidecar verifies it).</summary>
    public async Task<X509Certificate2> PresentedAsync()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _server.GrpcPort);
        await using var ssl = new SslStream(tcp.GetStream());
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(OperatorCertificateAuthority.ReadBundle(Trust.Bundle!));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = ServiceHost,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            CertificateChainPolicy = policy,
        });
        return new X509Certificate2(ssl.RemoteCertificate!);
    }
}

/// <summary>
/// The sidecar's transport to the decision server, end to end: the operator issues the certificate into its Secret,
/// the decision server serves gRPC with the Secret's files, and a real gRPC client that trusts only the published CA
/// bundle (as the sidecar's Envoy does) and dials the Service name gets answers; one trusting another CA does not.
/// </summary>
public sealed class DecisionTransportTlsTests : IAsyncLifetime
{
    private DecisionTlsServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await DecisionTlsServer.StartAsync();

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Check_OverTlsTrustingOnlyThePublishedCa_IsAnswered()
    {
        using var channel = _server.Channel(OperatorCertificateAuthority.ReadBundle(_server.Trust.Bundle!));

        var response = await new AuthorizationClient(channel).CheckAsync(new CheckRequest { Attributes = new AttributeContext() });

        // No identity: refused, but answered, which is what this test is about.
        Assert.NotEqual(0, response.Status.Code);
    }

    [Fact]
    public async Task Check_TrustingAnotherCa_FailsTheHandshake()
    {
        var other = OperatorCertificateAuthority.CreateCa(DateTimeOffset.UtcNow, TimeSpan.FromDays(30), "someone-else");
        using var channel = _server.Channel(OperatorCertificateAuthority.ReadBundle(other.CertificatePem));

        var e = await Assert.ThrowsAsync<RpcException>(async () => await new AuthorizationClient(channel).CheckAsync(new CheckRequest { Attributes = new AttributeContext() }));

        Assert.IsType<System.Security.Authentication.AuthenticationException>(DecisionTlsServer.Innermost(e.Status.DebugException), exactMatch: false);
    }

    [Fact]
    public async Task Check_DialledByAnotherName_FailsTheHandshake()
    {
        using var channel = _server.Channel(OperatorCertificateAuthority.ReadBundle(_server.Trust.Bundle!), host: "evil.example.com");

        var e = await Assert.ThrowsAsync<RpcException>(async () => await new AuthorizationClient(channel).CheckAsync(new CheckRequest { Attributes = new AttributeContext() }));

        Assert.IsType<System.Security.Authentication.AuthenticationException>(DecisionTlsServer.Innermost(e.Status.DebugException), exactMatch: false);
    }

    [Fact]
    public async Task RotatedCertificate_IsServedByTheNextHandshake_WithoutARestart()
    {
        var before = await _server.PresentedAsync();

        // The serving certificate is due (90 days, renewed with a third left): the operator re-issues it, the kubelet updates the files.
        _server.Time.Now = DateTimeOffset.UtcNow;
        await _server.Rotator.ReconcileAsync(CancellationToken.None);
        await _server.MountSecretAsync();

        await Eventually.TrueAsync(async () => (await _server.PresentedAsync()).Thumbprint != before.Thumbprint, "the decision server presents the rotated certificate");
        using var channel = _server.Channel(OperatorCertificateAuthority.ReadBundle(_server.Trust.Bundle!));
        var response = await new AuthorizationClient(channel).CheckAsync(new CheckRequest { Attributes = new AttributeContext() });
        Assert.NotNull(response.Status);
    }

    [Fact]
    public void ServingCertificateFiles_BrokenPair_IsRefusedNamingTheFile()
    {
        File.WriteAllText(Path.Combine(_server.Directory, "broken.crt"), "not a certificate");
        using var files = new ServingCertificateFiles(new DecisionTlsFiles { CertificatePath = Path.Combine(_server.Directory, "broken.crt"), KeyPath = _server.KeyPath }, TimeProvider.System,
            NullLogger<ServingCertificateFiles>.Instance);

        var e = Assert.Throws<InvalidOperationException>(files.LoadInitial);

        Assert.Contains("broken.crt", e.Message, StringComparison.Ordinal);
        Assert.Contains("not a PEM certificate and its private key", e.Message, StringComparison.Ordinal);
    }
}
