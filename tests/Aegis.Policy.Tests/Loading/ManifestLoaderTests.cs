using Aegis.Policy.Loading;
using Aegis.Policy.Resources;
using Aegis.TestSupport;

namespace Aegis.Policy.Tests.Loading;

public class ManifestLoaderTests
{
    private static readonly string CorpusDir = Path.Combine(AppContext.BaseDirectory, "Loading", "Malformed");

    public static TheoryData<string> CorpusFiles() =>
        [.. Directory.EnumerateFiles(CorpusDir, "*.yaml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void LoadText_MalformedCorpusFile_ProducesExactlyTheExpectedErrors(string file)
    {
        var text = File.ReadAllText(Path.Combine(CorpusDir, file));
        var expected = File.ReadAllText(Path.Combine(CorpusDir, Path.ChangeExtension(file, ".errors"))).TrimEnd('\n');

        var result = ManifestLoader.LoadText(text, file);

        Assert.Equal(expected, string.Join("\n", result.Errors));
    }

    [Fact]
    public void Corpus_CoversEveryErrorKindTheIssueNames()
    {
        var all = string.Join("\n", Directory.EnumerateFiles(CorpusDir, "*.errors").Select(File.ReadAllText));
        foreach (var fragment in new[] { "unknown field", "duplicate rule name", "unclosed '['", "CEL does not compile", "must be a duration", "must not be negative", "must be a decimal string", "YAML syntax error" })
        {
            Assert.Contains(fragment, all, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void LoadText_OneBadObject_OthersStillLoad()
    {
        var yaml = PolicyFixtures.Policy("good-1", "acme", "- { name: r, match: { tools: [a] }, effect: allow }")
            + PolicyFixtures.Policy("bad", "acme", "- { name: r, match: { tools: [a] }, effect: explode }")
            + PolicyFixtures.Policy("good-2", "acme", "- { name: r, match: { tools: [b] }, effect: deny }");

        var result = ManifestLoader.LoadText(yaml, "mixed.yaml");

        Assert.Equal(["default/good-1", "default/good-2"], result.Objects.Select(o => o.Id));
        var error = Assert.Single(result.Errors);
        Assert.Equal("AgentPolicy default/bad", error.ObjectRef);
        Assert.Equal("spec.rules[0].effect", error.Field);
        Assert.Equal([new RejectedObject("AgentPolicy", "default/bad", "acme", "mixed.yaml")], result.Rejected);
    }

    [Fact]
    public void LoadText_SyntaxErrorLateInFile_KeepsEarlierDocuments()
    {
        var result = ManifestLoader.LoadText(File.ReadAllText(Path.Combine(CorpusDir, "syntax-error.yaml")), "syntax-error.yaml");

        var region = Assert.IsType<TenantRegion>(Assert.Single(result.Objects));
        Assert.Equal(["eu-west-1"], region.Spec.AllowedRegions);
        Assert.Single(result.Errors);
    }

    [Fact]
    public void LoadText_ValidPolicy_BindsEveryFieldWithDefaults()
    {
        var result = PolicyFixtures.LoadValid("""
            apiVersion: aegis.dev/v1alpha1
            kind: AgentPolicy
            metadata: { name: payments, generation: 3, labels: { team: pay } }
            spec:
              tenant: acme
              agents: ["payments-*"]
              rules:
                - name: large
                  match: { tools: ["stripe.transfer"], egress: { hosts: ["api.stripe.com:443"], methods: [POST], paths: ["/v1/*"] } }
                  when: "args.amount > 5000.0"
                  effect: approval_needed
                  approval: { approvers: ["slack:U024BE7LH", "group:finance"], ttl: 15m, escalation: { after: 5m, approvers: ["group:cfo"] } }
            """);

        var policy = Assert.IsType<AgentPolicy>(Assert.Single(result.Objects));
        Assert.Equal("default/payments", policy.Id);
        Assert.Equal(3, policy.Metadata.Generation);
        Assert.Equal(PolicyMode.Enforce, policy.Spec.Mode);
        Assert.Equal(Effect.Deny, policy.Spec.DefaultEffect);
        var rule = Assert.Single(policy.Spec.Rules);
        Assert.Equal(Effect.ApprovalNeeded, rule.Effect);
        Assert.Equal(["api.stripe.com:443"], rule.Match.Egress!.Hosts);
        Assert.Equal(["group:cfo"], rule.Approval!.Escalation!.Approvers);
    }

    [Fact]
    public void LoadText_JsonDocument_IsAccepted()
    {
        var result = PolicyFixtures.LoadValid("""
            {"apiVersion":"aegis.dev/v1alpha1","kind":"TenantRegion","metadata":{"name":"r","namespace":"ns"},
             "spec":{"tenant":"acme","allowedRegions":["eu-west-1"],"regionHosts":{"us-east-1":["*.us-east-1.amazonaws.com"]}}}
            """);

        var region = Assert.IsType<TenantRegion>(Assert.Single(result.Objects));
        Assert.Equal(["*.us-east-1.amazonaws.com"], region.Spec.RegionHosts!["us-east-1"]);
    }

    [Fact]
    public void LoadText_AnchorsAndAliases_AreResolved()
    {
        var result = PolicyFixtures.LoadValid("""
            apiVersion: aegis.dev/v1alpha1
            kind: AgentPolicy
            metadata: { name: p }
            spec:
              tenant: acme
              rules:
                - name: a
                  match: &m { tools: ["x.*"] }
                  effect: allow
                - name: b
                  match: *m
                  effect: deny
            """);

        var policy = Assert.IsType<AgentPolicy>(Assert.Single(result.Objects));
        Assert.Equal(["x.*"], policy.Spec.Rules[1].Match.Tools);
    }

    [Fact]
    public void LoadPaths_Folder_ReadsYamlRecursivelyAndSkipsTestFilesAndHiddenFolders()
    {
        using var dir = new TempDirectory();
        dir.Write("a/one.yaml", PolicyFixtures.Policy("one", "acme", "- { name: r, match: { tools: [a] }, effect: allow }"));
        dir.Write("b/two.yml", PolicyFixtures.Policy("two", "acme", "- { name: r, match: { tools: [a] }, effect: allow }"));
        dir.Write("b/cases_test.yaml", "policies: []\ncases: []\n");
        dir.Write(".git/three.yaml", "not: [valid");
        dir.Write("notes.txt", "ignored");

        var result = ManifestLoader.LoadPaths([dir.Path]);

        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        Assert.Equal(["default/one", "default/two"], result.Objects.Select(o => o.Id));
    }

    [Fact]
    public void LoadPaths_SameObjectTwice_SecondIsAnError()
    {
        using var dir = new TempDirectory();
        var policy = PolicyFixtures.Policy("dup", "acme", "- { name: r, match: { tools: [a] }, effect: allow }");
        dir.Write("1.yaml", policy);
        dir.Write("2.yaml", policy);

        var result = ManifestLoader.LoadPaths([dir.Path]);

        var error = Assert.Single(result.Errors);
        Assert.Contains("duplicate object: AgentPolicy default/dup is also defined in", error.Reason, StringComparison.Ordinal);
        Assert.EndsWith("2.yaml", error.File, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadPaths_MissingPath_IsAnError()
    {
        var result = ManifestLoader.LoadPaths(["/definitely/not/here.yaml"]);
        Assert.Equal("no such file or directory", Assert.Single(result.Errors).Reason);
    }

    [Fact]
    public void LoadText_OtherApiGroups_AreIgnoredNotErrors()
    {
        var result = ManifestLoader.LoadText("apiVersion: v1\nkind: Namespace\nmetadata: { name: x }\n", "ns.yaml");
        Assert.True(result.Succeeded);
        Assert.Equal(1, result.Ignored);
        Assert.Empty(result.Objects);
    }

    [Fact]
    public void LoadText_InvalidTenantRegion_IsRejectedWithItsTenant()
    {
        var result = ManifestLoader.LoadText("""
            apiVersion: aegis.dev/v1alpha1
            kind: TenantRegion
            metadata: { name: r }
            spec: { tenant: acme, allowedRegions: ["EU WEST"] }
            """, "r.yaml");

        Assert.Equal([new RejectedObject("TenantRegion", "default/r", "acme", "r.yaml")], result.Rejected);
    }
}
