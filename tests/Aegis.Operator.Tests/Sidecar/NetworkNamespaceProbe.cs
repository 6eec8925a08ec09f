using System.Diagnostics;
using Aegis.TestSupport;

namespace Aegis.Operator.Tests.Sidecar;

/// <summary>
/// Runs an interception script the way aegis-init does, in a network (and mount) namespace of its own: a
/// resolv.conf naming 10.96.0.10, loopback, and a veth link with a default route (where nobody answers), then prints
/// <c>iptables-save</c> and the exit codes of probes: TCP to the API server and to a Service (1 when refused at once,
/// i.e. redirected to the transparent port, which nothing listens on here; 124 when it timed out going out), TCP as
/// Envoy's uid, UDP elsewhere (1: rejected) and UDP DNS to the nameserver (0). Needs root, util-linux (unshare,
/// setpriv), iproute2, bash and iptables.
/// </summary>
internal static class NetworkNamespaceProbe
{
    private static readonly string[] Tools = ["iptables", "ip6tables", "iptables-save", "unshare", "setpriv", "ip", "bash", "timeout"];

    public static void SkipUnlessAvailable()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':');
        var missing = Tools.FirstOrDefault(t => !path.Any(d => File.Exists(Path.Combine(d, t))));
        if (missing is not null || Environment.UserName != "root")
        {
            Assert.Skip($"needs root and {missing ?? "root"} on PATH (Debian: apt-get install iptables util-linux iproute2); runs where they are, e.g. on the project's machines after `apt-get install iptables`");
        }
    }

    public static async Task<string> RunAsync(string script)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "resolv.conf"), "search agents.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
        File.WriteAllText(Path.Combine(dir.Path, "aegis-init.sh"), script);
        File.WriteAllText(Path.Combine(dir.Path, "probe.sh"), $$"""
            set -u
            mount --bind {{dir.Path}}/resolv.conf /etc/resolv.conf
            ip link set lo up
            ip link add aegis0 type veth peer name aegis1 && ip addr add 10.1.0.2/16 dev aegis0 && ip link set aegis0 up && ip link set aegis1 up && ip route add default dev aegis0
            sh {{dir.Path}}/aegis-init.sh || { echo "script failed"; exit 1; }
            echo "=== rules"
            iptables-save | grep -v '^#'
            echo "=== probes"
            timeout 2 bash -c 'exec 3<>/dev/tcp/10.96.0.1/443' 2>/dev/null; echo "tcp-apiserver=$?"
            timeout 2 bash -c 'exec 3<>/dev/tcp/10.96.4.7/80' 2>/dev/null; echo "tcp-service=$?"
            timeout 1 setpriv --reuid 101 --regid 101 --clear-groups bash -c 'exec 3<>/dev/tcp/10.96.4.7/80' 2>/dev/null; echo "tcp-envoy=$?"
            bash -c 'echo x > /dev/udp/203.0.113.9/443' 2>/dev/null; echo "udp-other=$?"
            bash -c 'echo x > /dev/udp/10.96.0.10/53' 2>/dev/null; echo "udp-dns=$?"
            """);
        var start = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--net", "--mount", "--propagation", "private", "sh", Path.Combine(dir.Path, "probe.sh") })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, $"the probe failed (exit {process.ExitCode}):\n{output}\n{error}");
        return output;
    }
}
