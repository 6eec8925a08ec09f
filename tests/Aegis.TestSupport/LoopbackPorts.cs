using System.Net;
using System.Net.Sockets;

namespace Aegis.TestSupport;

/// <summary>Free TCP ports on 127.0.0.1 for servers a test starts.</summary>
public static class LoopbackPorts
{
    /// <summary>A port nothing listens on right now (the OS's choice for port 0).</summary>
    public static int Free()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
