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
    /// The script as the kernel takes it: run in a fresh network namespace (<see cref="NetworkNamespaceProbe"/>), read
    /// back with iptables-save and probed with real connections.
    /// </summary>
    [Fact]
    public async Task Script_InANetworkNamespace_RedirectsAndRejectsAsDocumented()
    {
        NetworkNamespaceProbe.SkipUnlessAvailable();

        var output = await NetworkNamespaceProbe.RunAsync(Script);

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
}
