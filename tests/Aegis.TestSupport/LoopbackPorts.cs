using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aegis.TestSupport;

/// <summary>TCP ports on 127.0.0.1 for servers a test starts.</summary>
/// <remarks>
/// Prefer binding port 0 and reading the port back (<see cref="BoundPort"/>): nothing can take it in between.
/// <see cref="Free"/> is for processes that need a number up front (redis-server). It picks below the kernel's
/// ephemeral range, because a port the OS handed out for a port-0 bind or an outgoing connection elsewhere in
/// the suite is exactly the port it would hand out again: CI once failed on that race.
/// </remarks>
public static class LoopbackPorts
{
    private static readonly ConcurrentDictionary<int, bool> Handed = new();

    /// <summary>A port nothing listens on right now, outside the ephemeral range and never handed out twice.</summary>
    public static int Free()
    {
        var (low, _) = EphemeralRange();
        var floor = Math.Min(20_000, low - 1_000);
        for (var attempt = 0; attempt < 1_000; attempt++)
        {
            var port = Random.Shared.Next(floor, low);
            if (!Handed.TryAdd(port, true))
            {
                continue;
            }

            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use by another process: try another.
            }
        }

        throw new InvalidOperationException($"no free loopback port in [{floor}, {low})");
    }

    /// <summary>A slim application for an in-process fake: HTTP on 127.0.0.1, port chosen at start, warnings only.</summary>
    public static WebApplication CreateApp()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        return builder.Build();
    }

    /// <summary>"http://127.0.0.1:{port}" of a started <see cref="CreateApp"/> application.</summary>
    public static string BaseUrl(WebApplication app) => $"http://127.0.0.1:{BoundPort(app)}";

    /// <summary>The port a started Kestrel application bound (its first address, or its first with <paramref name="scheme"/>), for apps listening on port 0.</summary>
    public static int BoundPort(WebApplication app, string? scheme = null)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return addresses.Select(a => new Uri(a)).First(u => scheme is null || u.Scheme == scheme).Port;
    }

    private static (int Low, int High) EphemeralRange()
    {
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return (32_768, 60_999);
        }
        catch (UnauthorizedAccessException)
        {
            return (32_768, 60_999);
        }
    }
}
