using Aegis.Policy.Decisions;
using Aegis.Policy.Matching;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Matching;

public class EgressTargetTests
{
    public static TheoryData<string, string, string> Paths() => new()
    {
        { "/v1/transfers", "/v1/transfers", "as sent" },
        { "/v1/../admin", "/admin", "dot-dot resolved" },
        { "/v1/%2e%2e/admin", "/admin", "encoded dot-dot decoded, then resolved" },
        { "/v1/%2E%2e/admin", "/admin", "mixed-case escapes" },
        { "/v1/./x", "/v1/x", "dot segment" },
        { "/v1//x", "/v1/x", "double slash collapsed" },
        { "//v1///x//", "/v1/x/", "runs of slashes" },
        { "/v1/x?redirect=/admin", "/v1/x", "query ignored" },
        { "/v1/x#frag", "/v1/x", "fragment ignored" },
        { "/../../etc/passwd", "/etc/passwd", "above the root stays at the root" },
        { "/v1/%61dmin", "/v1/admin", "unreserved letter decoded" },
        { "/v1/a%2Fb", "/v1/a%2Fb", "encoded slash stays encoded" },
        { "/v1/a%2fb", "/v1/a%2Fb", "encoded slash, hex upper-cased, no segment" },
        { "/v1%2F..%2Fadmin", "/v1%2F..%2Fadmin", "encoded slashes make no dot-dot segment" },
        { "/V1/Transfers", "/V1/Transfers", "case kept" },
        { "/v1/x/", "/v1/x/", "trailing slash kept" },
        { "", "/", "empty is the root" },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Parse_Path_NormalisedAsDesignSays(string path, string expected, string why)
    {
        var target = EgressTarget.Parse("api.stripe.com", path);

        Assert.True(target.Invalid is null, why);
        Assert.Equal(expected, target.Path);
    }

    public static TheoryData<string, string, int?> Hosts() => new()
    {
        { "api.stripe.com", "api.stripe.com", null },
        { "API.Stripe.COM", "api.stripe.com", null },
        { "API.Stripe.COM.", "api.stripe.com", null },
        { "api.stripe.com.:443", "api.stripe.com", 443 },
        { "api.stripe.com:8443", "api.stripe.com", 8443 },
        { "bücher.example", "xn--bcher-kva.example", null },
        { "XN--BCHER-KVA.example", "xn--bcher-kva.example", null },
        { "[::1]:8080", "[::1]", 8080 },
        { "10.0.0.1", "10.0.0.1", null },
    };

    [Theory]
    [MemberData(nameof(Hosts))]
    public void Parse_Host_FoldedToAsciiLowerCaseWithoutTrailingDot(string authority, string host, int? port)
    {
        var target = EgressTarget.Parse(authority, "/");

        Assert.Null(target.Invalid);
        Assert.Equal((host, port), (target.Host, target.Port));
    }

    public static TheoryData<string, string, string> Invalid() => new()
    {
        { "api.stripe.com@evil.example", "/", EgressRejection.HostInvalid },
        { "user:pass@api.stripe.com", "/", EgressRejection.HostInvalid },
        { "api.stripe.com:99999", "/", EgressRejection.HostInvalid },
        { "api.stripe.com:44x", "/", EgressRejection.HostInvalid },
        { "api..stripe.com", "/", EgressRejection.HostInvalid },
        { "api.stripe.com..", "/", EgressRejection.HostInvalid },
        { "api.stripe.com/evil", "/", EgressRejection.HostInvalid },
        { "*.stripe.com", "/", EgressRejection.HostInvalid },
        { "[::1", "/", EgressRejection.HostInvalid },
        { "api.stripe.com", "/v1/%zz", EgressRejection.PathInvalid },
        { "api.stripe.com", "/v1/%2", EgressRejection.PathInvalid },
        { "api.stripe.com", "/v1\\..\\admin", EgressRejection.PathInvalid },
        { "api.stripe.com", "/v1/\u0000", EgressRejection.PathInvalid },
        { "api.stripe.com", "http://api.stripe.com/v1", EgressRejection.PathInvalid },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Parse_Unreadable_IsInvalidWithItsReason(string authority, string path, string reason)
    {
        var target = EgressTarget.Parse(authority, path);

        Assert.Equal(reason, target.Invalid);
        Assert.NotNull(target.Message);
    }

    public static TheoryData<string, string, bool> HostPatterns() => new()
    {
        { "api.stripe.com", "API.STRIPE.COM.", true },
        { "API.Stripe.com.", "api.stripe.com", true },
        { "api.stripe.com:443", "api.stripe.com.:443", true },
        { "api.stripe.com:443", "api.stripe.com:8443", false },
        { "api.stripe.com:443", "api.stripe.com", false },
        { "*.stripe.com", "evil.stripe.com.", true },
        { "*.stripe.com", "stripe.com.evil.example", false },
        { "bücher.example", "xn--bcher-kva.example", true },
        { "xn--bcher-kva.example", "BÜCHER.example", false },
    };

    [Theory]
    [MemberData(nameof(HostPatterns))]
    public void HostPattern_AgainstNormalisedTarget_MatchesTheAsciiFormOnly(string pattern, string authority, bool matches)
    {
        var target = EgressTarget.Parse(authority, "/");

        Assert.Equal(matches, HostPattern.Compile(pattern).IsMatch(target.Host, target.Port));
    }

    private static readonly PolicySet Set = PolicyFixtures.SetFor("acme", PolicyFixtures.Policy("p", "acme", """
        - { name: v1, match: { egress: { hosts: ["api.stripe.com"], paths: ["/v1/*"] } }, effect: allow }
        - { name: admin, match: { egress: { hosts: ["api.stripe.com"], paths: ["/admin*"] } }, effect: deny }
        - { name: evil, match: { egress: { hosts: ["evil.example"] } }, effect: deny }
        """, defaultEffect: "allow"));

    public static TheoryData<string, string, string, string?> Decisions() => new()
    {
        { "api.stripe.com", "/v1/transfers", "allow", "v1" },
        { "api.stripe.com", "/v1/../admin", "deny", "admin" },
        { "api.stripe.com", "/v1/%2e%2e/admin", "deny", "admin" },
        { "api.stripe.com", "/v1//../admin/users", "deny", "admin" },
        { "EVIL.example.", "/", "deny", "evil" },
        { "evil.example.:443", "/", "deny", "evil" },
        { "api.stripe.com@evil.example", "/v1/x", "deny", null },
        { "api.stripe.com", "/v1/%zz/../../admin", "deny", null },
    };

    [Theory]
    [MemberData(nameof(Decisions))]
    public void Decide_PathAndHostTricks_MatchTheNormalisedDestination(string host, string path, string effect, string? rule)
    {
        var decision = DecisionEngine.Decide(Set, new DecisionInput
        {
            Tenant = "acme",
            Agent = new AgentIdentity("bot"),
            Request = new EgressRequest("GET", host, path),
        });

        Assert.Equal(effect, DecisionJson.EffectName(decision.Effect));
        Assert.Equal(rule, decision.Rule);
        if (rule is null)
        {
            Assert.StartsWith("egress_", decision.Reason, StringComparison.Ordinal);
        }
    }
}
