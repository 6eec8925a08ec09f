using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.TestSupport;
using Google.Protobuf;

namespace Aegis.Operator.Tests.Sidecar;

/// <summary>
/// What the transparent listener's network ext_authz filter sends for a TLS connection (docs/sidecar.md), as a
/// golden sample the decision server is coded against: no <c>attributes.request.http</c>; the SNI in
/// <c>tls_session.sni</c> (and, as Envoy's createTcpCheck fills it, in <c>destination.service</c>); the address the
/// agent dialled in <c>destination.address</c>; the pod's own address in <c>source.address</c>. The pod's identity is
/// not in the message: it is the gRPC metadata x-aegis-tenant and x-aegis-agent-id.
/// </summary>
public class NetworkCheckRequestTests
{
    private const string Golden = "tests/Aegis.Operator.Tests/Golden/network-ext-authz-check-request.json";

    private static CheckRequest Sample() => new()
    {
        Attributes = new AttributeContext
        {
            Source = new AttributeContext.Types.Peer { Address = new Address { SocketAddress = new SocketAddress { Address = "10.1.0.2", PortValue = 48122 } } },
            Destination = new AttributeContext.Types.Peer
            {
                Address = new Address { SocketAddress = new SocketAddress { Address = "198.51.100.7", PortValue = 443 } },
                Service = "api.stripe.com",
            },
            TlsSession = new AttributeContext.Types.TLSSession { Sni = "api.stripe.com" },
        },
    };

    [Fact]
    public void Sample_MatchesItsGoldenFile() =>
        GoldenFiles.Match(Golden, JsonFormatter.Default.Format(Sample()) + "\n");

    [Fact]
    public void GoldenFile_ParsesAsACheckRequestWithoutHttpAttributes()
    {
        var parsed = JsonParser.Default.Parse<CheckRequest>(File.ReadAllText(Path.Combine(RepositoryPaths.Root, Golden)));

        Assert.Equal(Sample(), parsed);
        Assert.Null(parsed.Attributes.Request);
        Assert.Equal("api.stripe.com", parsed.Attributes.TlsSession.Sni);
        Assert.Equal(443u, parsed.Attributes.Destination.Address.SocketAddress.PortValue);
        Assert.Empty(parsed.Attributes.ContextExtensions);
    }
}
