using Xunit;

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Aegis.TestSupport;

/// <summary>
/// A real <c>redis-server</c> (the Debian package, which <c>make test</c> installs) on a free loopback port, with
/// no persistence, that tests can stop and start again on the same port.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _binary;
    private readonly TempDirectory _dir = new();
    private Process? _process;

    private RedisServer(string binary, int port)
    {
        _binary = binary;
        Port = port;
    }

    public int Port { get; }

    /// <summary>"127.0.0.1:port", the connection string StackExchange.Redis takes.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>Path of redis-server, or null with the reason when this machine has none.</summary>
    public static string? Find(out string reason)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Append("/usr/sbin"))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                reason = "";
                return candidate;
            }
        }

        reason = "redis-server is not installed (make test installs the Debian package redis-server; CI runs these tests)";
        return null;
    }

    /// <summary>Starts a server, or skips the calling test with the reason when redis-server is missing.</summary>
    public static async Task<RedisServer> StartAsync()
    {
        var binary = Find(out var reason);
        if (binary is null)
        {
            Assert.Skip(reason);
        }

        var server = new RedisServer(binary!, LoopbackPorts.Free());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the server (again) on the same port and waits until it answers PING.</summary>
    public async Task StartAgainAsync()
    {
        _process = Process.Start(new ProcessStartInfo(_binary)
        {
            ArgumentList = { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", _dir.Path, "--loglevel", "warning" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = Environment.TickCount64 + 10_000;
        while (!await PingAsync())
        {
            if (Environment.TickCount64 > deadline || _process.HasExited)
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Stops the server as a crash would (SIGKILL).</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer);
            return System.Text.Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _dir.Dispose();
    }
}
