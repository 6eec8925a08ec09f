using System.Diagnostics;
using Aegis.Operator.Sidecar;
using Aegis.TestSupport;

namespace Aegis.Operator.Tests.Sidecar;

public class InterceptionRulesTests
{
    private static readonly string Script = InterceptionRules.Script(new SidecarOptions());

    private static string[] Lines => Script.Split('\n').Select(l => l.Trim()).ToArray();

    [Fact]
    public void Script_MatchesItsGoldenFile() => GoldenFiles.Match("tests/Aegis.Operator.Tests/Golden/aegis-init.sh", Script);

    [Fact]
    public void Script_IsDeterministic() => Assert.Equal(Script, InterceptionRules.Script(new SidecarOptions()));

    /// <summary>Each rule the threat model relies on, as a line of the script (order matters: the first match wins).</summary>
    [Theory]
    [InlineData("iptables -t nat -A OUTPUT -p tcp -j AEGIS_OUTPUT")]
    [InlineData("iptables -t nat -A AEGIS_OUTPUT -m owner --uid-owner 101 -j RETURN")]
    [InlineData("iptables -t nat -A AEGIS_OUTPUT -o lo -j RETURN")]
    [InlineData("iptables -t nat -A AEGIS_OUTPUT -p tcp -j REDIRECT --to-ports 15002")]
    [InlineData("iptables -t filter -A OUTPUT -j AEGIS_EGRESS")]
    [InlineData("iptables -t filter -A AEGIS_EGRESS -j REJECT")]
    [InlineData("ip6tables -t filter -A OUTPUT -j AEGIS_EGRESS")]
    [InlineData("ip6tables -t filter -A AEGIS_EGRESS -j REJECT")]
    [InlineData("ip6tables -t filter -A AEGIS_EGRESS -m owner --uid-owner 101 -j RETURN")]
    public void Script_HasRule(string rule) => Assert.Contains(rule, Lines);

    [Fact]
    public void Script_RedirectsEveryTcpDestination_NotAPortList()
    {
        var redirect = Lines.Single(l => l.Contains("REDIRECT", StringComparison.Ordinal));

        // No --dport on the redirect: in-cluster Services, the API server and any port are redirected alike.
        Assert.DoesNotContain("--dport", redirect, StringComparison.Ordinal);
        Assert.DoesNotContain("-d ", redirect, StringComparison.Ordinal);
    }

    [Fact]
    public void Script_ExemptionsComeBeforeTheRedirectAndTheReject()
    {
        var lines = Lines.ToList();
        var redirect = lines.FindIndex(l => l.Contains("REDIRECT", StringComparison.Ordinal));
        var reject = lines.FindIndex(l => l.StartsWith("iptables -t filter -A AEGIS_EGRESS -j REJECT", StringComparison.Ordinal));

        Assert.True(lines.FindIndex(l => l.Contains("nat -A AEGIS_OUTPUT -m owner --uid-owner 101", StringComparison.Ordinal)) < redirect);
        Assert.True(lines.FindIndex(l => l.Contains("nat -A AEGIS_OUTPUT -d \"$ns\" -p tcp --dport 53", StringComparison.Ordinal)) < redirect);
        Assert.True(lines.FindIndex(l => l.StartsWith("iptables -t filter -A AEGIS_EGRESS -d \"$ns\" -p udp --dport 53", StringComparison.Ordinal)) < reject);
        Assert.True(lines.FindIndex(l => l.StartsWith("iptables -t filter -A AEGIS_EGRESS -m conntrack --ctstate ESTABLISHED,RELATED", StringComparison.Ordinal)) < reject);
        Assert.True(lines.FindIndex(l => l.StartsWith("iptables -t filter -A AEGIS_EGRESS -d 127.0.0.1/32 -j RETURN", StringComparison.Ordinal)) < reject);
    }

    [Fact]
    public void Script_DnsExemptionOnlyForTheNameserversOfResolvConf()
    {
        Assert.Contains("nameservers=$(awk '$1 == \"nameserver\" { print $2 }' /etc/resolv.conf)", Lines);
        Assert.All(Lines.Where(l => l.Contains("--dport 53", StringComparison.Ordinal)), l => Assert.Contains("-d \"$ns\"", l, StringComparison.Ordinal));
    }

    [Fact]
    public void Script_FollowsTheConfiguredPort() =>
        Assert.Contains("iptables -t nat -A AEGIS_OUTPUT -p tcp -j REDIRECT --to-ports 17777", InterceptionRules.Script(new SidecarOptions { TransparentPort = 17777 }).Split('\n'));

    /// <summary>
    /// The script as the kernel takes it: run in a fresh network (and mount) namespace with a resolv.conf of our own,
    /// then read back with iptables-save and probed with real connections: TCP to an in-cluster address is redirected
    /// (refused at once by the empty transparent port instead of going out), Envoy's uid is not, UDP is rejected
    /// except DNS to the nameserver. Needs root, util-linux's unshare and setpriv, iproute2, bash and iptables.
    /// </summary>
    [Fact]
    public async Task Script_InANetworkNamespace_RedirectsAndRejectsAsDocumented()
    {
        var missing = Missing("iptables", "ip6tables", "iptables-save", "unshare", "setpriv", "ip", "bash");
        if (missing is not null || Environment.UserName != "root")
        {
            Assert.Skip($"needs root and {missing ?? "root"} on PATH (Debian: apt-get install iptables util-linux iproute2); runs where they are, e.g. on the project's machines after `apt-get install iptables`");
        }

        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "resolv.conf"), "search agents.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
        File.WriteAllText(Path.Combine(dir.Path, "aegis-init.sh"), Script);
        File.WriteAllText(Path.Combine(dir.Path, "probe.sh"), $$"""
            set -u
            mount --bind {{dir.Path}}/resolv.conf /etc/resolv.conf
            ip link set lo up
            ip link add aegis0 type veth peer name aegis1 && ip addr add 10.1.0.2/16 dev aegis0 && ip link set aegis0 up && ip link set aegis1 up && ip route add default dev aegis0
            sh {{dir.Path}}/aegis-init.sh || { echo "script failed"; exit 1; }
            echo "=== rules"
            iptables-save | grep -v '^#'
            echo "=== probes"
            # Redirected: nothing listens on 127.0.0.1:15002 here, so the connection is refused at once.
            timeout 2 bash -c 'exec 3<>/dev/tcp/10.96.0.1/443' 2>/dev/null; echo "tcp-apiserver=$?"
            timeout 2 bash -c 'exec 3<>/dev/tcp/10.96.4.7/80' 2>/dev/null; echo "tcp-service=$?"
            # Envoy's uid is not redirected: it goes out the veth link, where nobody answers.
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

        Assert.Contains("-A OUTPUT -p tcp -j AEGIS_OUTPUT", output, StringComparison.Ordinal);
        Assert.Contains("-A AEGIS_OUTPUT -d 10.96.0.10/32 -p tcp -m tcp --dport 53 -j RETURN", output, StringComparison.Ordinal);
        Assert.Contains("-A AEGIS_OUTPUT -p tcp -j REDIRECT --to-ports 15002", output, StringComparison.Ordinal);
        Assert.Contains("-A AEGIS_EGRESS -d 10.96.0.10/32 -p udp -m udp --dport 53 -j RETURN", output, StringComparison.Ordinal);
        Assert.Contains("-A AEGIS_EGRESS -j REJECT", output, StringComparison.Ordinal);

        // 1 = refused (redirected to the empty port), 124 = timed out (went out unredirected).
        Assert.Contains("tcp-apiserver=1", output, StringComparison.Ordinal);
        Assert.Contains("tcp-service=1", output, StringComparison.Ordinal);
        Assert.Contains("tcp-envoy=124", output, StringComparison.Ordinal);
        Assert.Contains("udp-other=1", output, StringComparison.Ordinal);
        Assert.Contains("udp-dns=0", output, StringComparison.Ordinal);
    }

    private static string? Missing(params string[] tools) =>
        tools.FirstOrDefault(t => !(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, t))));
}
