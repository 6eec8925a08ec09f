using System.Text.Json;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

public class AegisCommandTests
{
    private const string GoodPolicy = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: pay, namespace: fin }
        spec:
          tenant: acme
          rules:
            - { name: small, match: { tools: ["pay"] }, when: "args.amount <= 100.0", effect: allow }
            - name: mail
              match: { tools: ["mail.*"] }
              effect: sanitize
              redact: [ { detector: email } ]
        """;

    [Fact]
    public async Task Validate_ValidFolder_ExitsZero()
    {
        using var dir = new TempDirectory();
        dir.Write("p.yaml", GoodPolicy);

        var run = await CliRun.RunAsync("validate", dir.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("1 valid, 0 invalid, 0 error(s)", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_SeveralBadObjects_PrintsEveryErrorAndExitsOne()
    {
        using var dir = new TempDirectory();
        dir.Write("a.yaml", GoodPolicy.Replace("effect: allow", "effect: maybe", StringComparison.Ordinal));
        dir.Write("b.yaml", GoodPolicy.Replace("name: pay", "name: pay2", StringComparison.Ordinal).Replace("<= 100.0", "<=", StringComparison.Ordinal));

        var run = await CliRun.RunAsync("validate", dir.Path);

        Assert.Equal(1, run.ExitCode);
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains("a.yaml:7:87: AgentPolicy fin/pay: spec.rules[0].effect: must be one of", lines[0], StringComparison.Ordinal);
        Assert.Contains("b.yaml:7:55: AgentPolicy fin/pay2: spec.rules[0].when: CEL does not compile", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysCompileVerify_RoundTrip_ProducesVerifiableBundlePerTenant()
    {
        using var dir = new TempDirectory();
        dir.Write("policies/acme.yaml", GoodPolicy);
        dir.Write("policies/globex.yaml", GoodPolicy.Replace("tenant: acme", "tenant: globex", StringComparison.Ordinal).Replace("name: pay", "name: other", StringComparison.Ordinal));
        var keys = Path.Combine(dir.Path, "keys");
        var output = Path.Combine(dir.Path, "bundles");

        var generate = await CliRun.RunAsync("keys", "generate", "--out", keys);
        Assert.True(generate.ExitCode == 0, generate.ToString());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(keys, "bundle-key.pem")));
        }

        var jwks = JsonWebKeySet.Parse(File.ReadAllText(Path.Combine(keys, "jwks.json")));
        Assert.Equal([("OKP", "bundle"), ("OKP", "token"), ("OKP", "audit")], jwks.Keys.Select(k => (k.Kty, k.Purpose!)));
        Assert.Equal(3, jwks.Keys.Select(k => k.X).Distinct().Count());

        var compile = await CliRun.RunAsync("compile", Path.Combine(dir.Path, "policies"), "--key", Path.Combine(keys, "bundle-key.pem"), "--out", output);
        Assert.True(compile.ExitCode == 0, compile.ToString());
        var lines = compile.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["acme", "globex"], lines.Select(l => l.Split('\t')[0]));
        Assert.All(lines, l => Assert.Matches("^[a-z]+\t[0-9a-f]{64}\t", l));

        var verify = await CliRun.RunAsync("verify", Path.Combine(output, "acme.tar.gz"), "--jwks", Path.Combine(keys, "jwks.json"), "--tenant", "acme");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains(lines[0].Split('\t')[1], verify.Out, StringComparison.Ordinal);

        var wrongTenant = await CliRun.RunAsync("verify", Path.Combine(output, "acme.tar.gz"), "--jwks", Path.Combine(keys, "jwks.json"), "--tenant", "globex");
        Assert.Equal(1, wrongTenant.ExitCode);
        Assert.Contains("bundle_tenant_mismatch", wrongTenant.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_OtherKeysJwks_FailsWithUnknownKid()
    {
        using var dir = new TempDirectory();
        dir.Write("p.yaml", GoodPolicy);
        await CliRun.RunAsync("keys", "generate", "--out", Path.Combine(dir.Path, "k1"));
        await CliRun.RunAsync("keys", "generate", "--out", Path.Combine(dir.Path, "k2"));
        await CliRun.RunAsync("compile", Path.Combine(dir.Path, "p.yaml"), "--key", Path.Combine(dir.Path, "k1", "bundle-key.pem"), "--out", dir.Path);

        var run = await CliRun.RunAsync("verify", Path.Combine(dir.Path, "acme.tar.gz"), "--jwks", Path.Combine(dir.Path, "k2", "jwks.json"));

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("bundle_unknown_kid", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compile_TenantWithInvalidObject_GetsNoBundleOthersDo()
    {
        using var dir = new TempDirectory();
        dir.Write("acme.yaml", GoodPolicy.Replace("effect: allow", "effect: nope", StringComparison.Ordinal));
        dir.Write("globex.yaml", GoodPolicy.Replace("tenant: acme", "tenant: globex", StringComparison.Ordinal));
        await CliRun.RunAsync("keys", "generate", "--out", Path.Combine(dir.Path, "k"));
        var output = Path.Combine(dir.Path, "out");

        var run = await CliRun.RunAsync("compile", Path.Combine(dir.Path, "acme.yaml"), Path.Combine(dir.Path, "globex.yaml"), "--key", Path.Combine(dir.Path, "k", "bundle-key.pem"), "--out", output);

        Assert.Equal(1, run.ExitCode);
        Assert.False(File.Exists(Path.Combine(output, "acme.tar.gz")));
        Assert.True(File.Exists(Path.Combine(output, "globex.tar.gz")));
        Assert.Contains("acme: not compiled: 1 invalid object(s): AgentPolicy fin/pay", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compile_BadKeyFile_ExitsTwoNamingTheFile()
    {
        using var dir = new TempDirectory();
        var key = dir.Write("key.pem", "not a key");
        var run = await CliRun.RunAsync("compile", dir.Path, "--key", key, "--out", dir.Path);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("key.pem: not an Ed25519 private key", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysGenerate_ExistingKey_RefusesWithoutForce()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, (await CliRun.RunAsync("keys", "generate", "--out", dir.Path)).ExitCode);
        var first = File.ReadAllText(Path.Combine(dir.Path, "bundle-key.pem"));

        var again = await CliRun.RunAsync("keys", "generate", "--out", dir.Path);

        Assert.Equal(1, again.ExitCode);
        Assert.Equal(first, File.ReadAllText(Path.Combine(dir.Path, "bundle-key.pem")));
        Assert.Equal(0, (await CliRun.RunAsync("keys", "generate", "--out", dir.Path, "--force")).ExitCode);
        Assert.NotEqual(first, File.ReadAllText(Path.Combine(dir.Path, "bundle-key.pem")));
    }

    [Fact]
    public async Task Eval_SanitizedCall_PrintsDecisionWithRedactedArgs()
    {
        using var dir = new TempDirectory();
        var policies = dir.Write("p.yaml", GoodPolicy);
        var input = dir.Write("in.json", """{"tenant":"acme","agent":{"id":"a"},"tool":"mail.send","args":{"to":"bob@example.com","n":1}}""");

        var run = await CliRun.RunAsync("eval", "--policies", policies, "--input", input);

        Assert.True(run.ExitCode == 0, run.ToString());
        using var doc = JsonDocument.Parse(run.Out);
        var root = doc.RootElement;
        Assert.Equal("sanitize", root.GetProperty("effect").GetString());
        Assert.Equal("fin/pay", root.GetProperty("policy").GetString());
        Assert.Equal("mail", root.GetProperty("rule").GetString());
        Assert.Equal("rule_matched", root.GetProperty("reason").GetString());
        Assert.Matches("^[0-9a-f]{64}$", root.GetProperty("revision").GetString());
        Assert.Equal("[REDACTED:email]", root.GetProperty("args").GetProperty("to").GetString());
        Assert.Equal("args.to", root.GetProperty("redactions")[0].GetProperty("path").GetString());
        Assert.Equal(0, root.GetProperty("shadow").GetArrayLength());
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("""{"agent":{"id":"a"},"tool":"x"}""", "input: tenant: is required")]
    [InlineData("""{"tenant":"acme","agent":{"id":"a"},"tool":"x","cost":1}""", "input: cost: money must be a decimal string")]
    public async Task Eval_BadInput_ExitsTwoWithReason(string input, string message)
    {
        using var dir = new TempDirectory();
        var policies = dir.Write("p.yaml", GoodPolicy);
        var inputFile = dir.Write("in.json", input);

        var run = await CliRun.RunAsync("eval", "--policies", policies, "--input", inputFile);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Eval_InvalidPolicies_ExitsTwo()
    {
        using var dir = new TempDirectory();
        var policies = dir.Write("p.yaml", GoodPolicy.Replace("tenant: acme", "tenant: ACME!", StringComparison.Ordinal));
        var input = dir.Write("in.json", """{"tenant":"acme","agent":{"id":"a"},"tool":"x"}""");
        var run = await CliRun.RunAsync("eval", "--policies", policies, "--input", input);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("spec.tenant: must be a DNS label", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_Samples_AllPass()
    {
        var run = await CliRun.RunAsync("test", RepositoryPaths.Samples);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"(?m)^[1-9][0-9]* passed, 0 failed$", run.Out);
    }

    [Fact]
    public async Task Test_FailingCase_PrintsTheDifferenceAndCounts()
    {
        using var dir = new TempDirectory();
        dir.Write("p.yaml", GoodPolicy);
        dir.Write("p_test.yaml", """
            policies: ["p.yaml"]
            cases:
              - name: small payment allowed
                input: { tenant: acme, agent: { id: a }, tool: pay, args: { amount: 5 } }
                expect: { effect: allow, rule: small }
              - name: wrong expectation
                input: { tenant: acme, agent: { id: a }, tool: pay, args: { amount: 500 } }
                expect: { effect: allow }
            """);

        var run = await CliRun.RunAsync("test", dir.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("wrong expectation: effect: expected \"allow\", got \"deny\"", run.Out, StringComparison.Ordinal);
        Assert.EndsWith("1 passed, 1 failed\n", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_UnknownExpectField_FailsTheCase()
    {
        using var dir = new TempDirectory();
        dir.Write("p.yaml", GoodPolicy);
        dir.Write("p_test.yaml", """
            policies: ["p.yaml"]
            cases:
              - name: typo
                input: { tenant: acme, agent: { id: a }, tool: pay, args: { amount: 5 } }
                expect: { efect: allow }
            """);

        var run = await CliRun.RunAsync("test", dir.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("cases[0].expect.efect: unknown field", run.Error, StringComparison.Ordinal);
        Assert.Contains("0 passed, 1 failed", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_NoTestFiles_ExitsOne()
    {
        using var dir = new TempDirectory();
        var run = await CliRun.RunAsync("test", dir.Path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("no *_test.yaml files found", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_ExitsTwo()
    {
        var run = await CliRun.RunAsync("frobnicate");
        Assert.Equal(2, run.ExitCode);
    }
}
