using Aegis.Operator.Tenants;
using Aegis.Policy.Resources;
using k8s.Models;

namespace Aegis.Operator.Tests;

/// <summary>Compiling one tenant from typed objects: validation with the loader's own messages, tenancy, determinism.</summary>
public class TenantCompilerTests
{
    private static AgentPolicy Policy(string name, Effect effect = Effect.Allow, long generation = 1, string tenant = "acme", string ns = "fin", string? when = null) => new()
    {
        Metadata = new ObjectMetadata { Name = name, Namespace = ns, Generation = generation, Uid = "uid-" + name },
        Spec = new AgentPolicySpec { Tenant = tenant, Rules = [new PolicyRule { Name = "r", Match = new RuleMatch { Tools = ["stripe.*"] }, When = when, Effect = effect }] },
    };

    private static V1Namespace Namespace(string name, string? tenant) =>
        new() { Metadata = new V1ObjectMeta { Name = name, Labels = tenant is null ? null : new Dictionary<string, string> { [TenantBinding.Label] = tenant } } };

    private static TenantSource Source(AegisObject obj, V1Namespace? ns = null) => new()
    {
        Resource = obj,
        Plural = "agentpolicies",
        Refusal = TenantBinding.Check(obj, ns ?? Namespace(obj.Metadata.Namespace!, "acme")),
    };

    [Fact]
    public void Compile_SameObjectsInAnyOrder_SameRevisionAndEveryObjectReady()
    {
        var compiler = new TenantCompiler();

        var first = compiler.Compile("acme", [Source(Policy("a")), Source(Policy("b", Effect.Deny))]);
        var again = new TenantCompiler().Compile("acme", [Source(Policy("b", Effect.Deny)), Source(Policy("a"))]);

        Assert.Equal(first.Revision, again.Revision);
        Assert.All(first.Statuses, s => Assert.True(s.Accepted.Status && s.Ready.Status));
        Assert.All(first.Statuses, s => Assert.Equal(first.Revision, s.BundleRevision));
    }

    [Fact]
    public void Compile_InvalidCel_LeftOutWithTheValidatorsFieldAndReason()
    {
        var good = new TenantCompiler().Compile("acme", [Source(Policy("a"))]);

        var result = new TenantCompiler().Compile("acme", [Source(Policy("a")), Source(Policy("broken", when: "nope > 1"))]);

        var broken = Assert.Single(result.Statuses, s => s.Source.Resource.Metadata.Name == "broken");
        Assert.Equal(("Invalid", false), (broken.Accepted.Reason, broken.Accepted.Status));
        Assert.StartsWith("spec.rules[0].when: ", broken.Accepted.Message, StringComparison.Ordinal);
        Assert.Contains("undeclared reference to 'nope'", broken.Accepted.Message, StringComparison.Ordinal);
        Assert.Null(broken.BundleRevision);
        Assert.Equal(good.Revision, result.Revision);
    }

    [Fact]
    public void Compile_ObjectThatCouldNotBeRead_ReportsTheReadError()
    {
        var source = Source(Policy("odd")) with { ReadError = "spec.rules[0].effect: does not fit the AgentPolicy model" };

        var result = new TenantCompiler().Compile("acme", [source]);

        Assert.Equal("spec.rules[0].effect: does not fit the AgentPolicy model", Assert.Single(result.Statuses).Accepted.Message);
        Assert.Empty(result.Content.Data.Policies);
    }

    public static TheoryData<string?, string> Refusals => new()
    {
        { null, TenantBinding.NotBound },
        { "globex", TenantBinding.Mismatch },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Compile_NamespaceNotOfTheTenant_NeverCompiledAndSaysWhy(string? namespaceTenant, string reason)
    {
        var stray = Policy("allow-all", ns: "theirs");

        var result = new TenantCompiler().Compile("acme", [Source(Policy("a", Effect.Deny)), Source(stray, Namespace("theirs", namespaceTenant))]);

        var refused = Assert.Single(result.Statuses, s => s.Source.Resource.Metadata.Name == "allow-all");
        Assert.Equal((reason, false), (refused.Accepted.Reason, refused.Accepted.Status));
        Assert.Equal(["fin/a"], result.Content.Data.Policies.Select(p => p.Id));
    }

    [Fact]
    public void Compile_InvalidTenantRegionInAnotherTenantsNamespace_DoesNotDenyThisTenant()
    {
        var region = new TenantRegion
        {
            Metadata = new ObjectMetadata { Name = "r", Namespace = "theirs", Generation = 1, Uid = "u" },
            Spec = new TenantRegionSpec { Tenant = "acme", AllowedRegions = ["not a region!"] },
        };

        var result = new TenantCompiler().Compile("acme", [new TenantSource { Resource = region, Plural = "tenantregions", Refusal = TenantBinding.Check(region, Namespace("theirs", "globex")) }]);

        Assert.Empty(result.Content.Data.InvalidRegions);
    }

    [Fact]
    public void Compile_GenerationChange_ChangesTheRevision()
    {
        var compiler = new TenantCompiler();

        var v1 = compiler.Compile("acme", [Source(Policy("a", generation: 1))]);
        var v2 = compiler.Compile("acme", [Source(Policy("a", Effect.Deny, generation: 2))]);

        Assert.NotEqual(v1.Revision, v2.Revision);
    }
}
