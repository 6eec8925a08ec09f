using Aegis.Policy.Matching;

namespace Aegis.Policy.Tests.Matching;

public class GlobTests
{
    [Theory]
    [InlineData("stripe.transfer", "stripe.transfer", false, true)]
    [InlineData("stripe.transfer", "stripe.transfers", false, false)]
    [InlineData("stripe.*", "stripe.transfer", false, true)]
    [InlineData("stripe.*", "stripe.", false, true)]
    [InlineData("stripe.*", "stripex", false, false)]
    [InlineData("*.transfer", "stripe.transfer", false, true)]
    [InlineData("*", "", false, true)]
    [InlineData("*", "anything", false, true)]
    [InlineData("ehr.*.read", "ehr.patient.read", false, true)]
    [InlineData("ehr.*.read", "ehr.patient.write", false, false)]
    [InlineData("ehr.*.read", "ehr.a.b.read", false, true)]
    [InlineData("tool-?", "tool-1", false, true)]
    [InlineData("tool-?", "tool-12", false, false)]
    [InlineData("tool-[0-9]", "tool-7", false, true)]
    [InlineData("tool-[0-9]", "tool-x", false, false)]
    [InlineData("tool-[!0-9]", "tool-x", false, true)]
    [InlineData("tool-[!0-9]", "tool-7", false, false)]
    [InlineData("a*b*c", "aXXbYYc", false, true)]
    [InlineData("a*b*c", "aXXcYYb", false, false)]
    [InlineData("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false)]
    [InlineData(@"literal\*star", "literal*star", false, true)]
    [InlineData(@"literal\*star", "literalXstar", false, false)]
    [InlineData("API.Stripe.com", "api.stripe.COM", true, true)]
    [InlineData("API.Stripe.com", "api.stripe.COM", false, false)]
    [InlineData("*.ACME.internal", "db.acme.INTERNAL", true, true)]
    [InlineData("[A-C]x", "bx", true, true)]
    public void IsMatch_Pattern_MatchesWholeValue(string pattern, string value, bool ignoreCase, bool expected)
    {
        Assert.True(Glob.TryCompile(pattern, ignoreCase, out var glob, out var error), error);
        Assert.Equal(expected, glob.IsMatch(value));
    }

    [Theory]
    [InlineData("", "empty pattern")]
    [InlineData("tool-[0-9", "unclosed '['")]
    [InlineData("tool-]", "unmatched ']'")]
    [InlineData("tool-[]", "unclosed '['")]
    [InlineData("tool-[z-a]", "reversed")]
    [InlineData("trailing\\", "escape")]
    [InlineData("has space", "whitespace")]
    public void TryCompile_InvalidPattern_ReturnsReason(string pattern, string reasonFragment)
    {
        Assert.False(Glob.TryCompile(pattern, false, out _, out var error));
        Assert.Contains(reasonFragment, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("api.stripe.com", "api.stripe.com", null, true)]
    [InlineData("api.stripe.com", "API.STRIPE.COM", 443, true)]
    [InlineData("api.x.com:8443", "api.x.com", 8443, true)]
    [InlineData("api.x.com:8443", "api.x.com", 443, false)]
    [InlineData("api.x.com:8443", "api.x.com", null, false)]
    [InlineData("*.acme.internal", "db.acme.internal", 5432, true)]
    [InlineData("*.acme.internal", "acme.internal", null, false)]
    public void HostPattern_PortAndCase_FollowDnsRules(string pattern, string host, int? port, bool expected)
    {
        Assert.True(HostPattern.TryCompile(pattern, out var compiled, out var error), error);
        Assert.Equal(expected, compiled.IsMatch(host, port));
    }

    [Theory]
    [InlineData("api.x.com:0")]
    [InlineData("api.x.com:99999")]
    [InlineData("api.x.com:http")]
    [InlineData("https://api.x.com")]
    public void HostPattern_BadPortOrUrl_IsRefused(string pattern)
    {
        Assert.False(HostPattern.TryCompile(pattern, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("api.x.com:8443", "api.x.com", 8443)]
    [InlineData("api.x.com", "api.x.com", null)]
    [InlineData("[::1]:8080", "[::1]", 8080)]
    [InlineData("[::1]", "[::1]", null)]
    public void SplitAuthority_HostAndPort_AreSeparated(string authority, string host, int? port)
    {
        Assert.Equal((host, port), HostPattern.SplitAuthority(authority));
    }
}
