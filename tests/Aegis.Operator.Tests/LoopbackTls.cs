using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Aegis.Operator.Tests;

/// <summary>A client as the API server or a sidecar is: it dials a Service's DNS name (SNI and name check) but connects to a loopback port, and trusts only the given CAs.</summary>
internal static class LoopbackTls
{
    public static SocketsHttpHandler Handler(int port, X509Certificate2Collection trusted)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck },
            },
        };
        handler.SslOptions.CertificateChainPolicy.CustomTrustStore.AddRange(trusted);
        return handler;
    }
}
