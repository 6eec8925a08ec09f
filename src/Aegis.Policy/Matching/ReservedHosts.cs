using System.Net;
using System.Net.Sockets;

namespace Aegis.Policy.Matching;

/// <summary>
/// Hosts no default effect may open: loopback, link-local (the cloud metadata endpoints live there), the cloud
/// metadata names and the cluster's own API server. The sidecar's Envoy can reach them on the agent's behalf, so
/// only a rule that names them allows them.
/// </summary>
public static class ReservedHosts
{
    private static readonly HashSet<string> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        "localhost", "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
        "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
    };

    /// <summary>Whether <paramref name="host"/> (a name or an address literal, brackets allowed) is reserved.</summary>
    public static bool IsReserved(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var name = host.TrimEnd('.');
        if (Names.Contains(name) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (!IPAddress.TryParse(name.Trim('[', ']'), out var address))
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();

            // 0.0.0.0/8, 169.254.0.0/16 (link-local: 169.254.169.254 and 169.254.170.2 metadata), 100.100.100.200 (Alibaba metadata).
            return b[0] == 0 || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && b[1] == 100 && b[2] == 100 && b[3] == 200);
        }

        // fe80::/10 link-local, and fd00:ec2::254 (the EC2 metadata endpoint over IPv6).
        return address.IsIPv6LinkLocal || address.Equals(IPAddress.Parse("fd00:ec2::254"));
    }
}
