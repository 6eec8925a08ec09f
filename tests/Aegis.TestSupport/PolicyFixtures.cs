using System.Text.Json;
using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Loading;
using Aegis.Policy.Signing;

namespace Aegis.TestSupport;

/// <summary>Builds policy sets and decision inputs from short YAML and JSON snippets.</summary>
public static class PolicyFixtures
{
    /// <summary>Loads YAML that must be valid; fails with every error otherwise.</summary>
    public static LoadResult LoadValid(string yaml, string source = "test.yaml")
    {
        var result = ManifestLoader.LoadText(yaml, source);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException("fixture YAML does not load:\n" + string.Join("\n", result.Errors));
        }

        return result;
    }

    /// <summary>The compiled policy set of <paramref name="tenant"/> from YAML.</summary>
    public static PolicySet SetFor(string tenant, string yaml) =>
        PolicySet.From(BundleCompiler.Compile(tenant, LoadValid(yaml).Objects));

    /// <summary>Parses a decision input from JSON; fails when the input is invalid.</summary>
    public static DecisionInput Input(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return DecisionInput.TryParse(doc.RootElement, out var input, out var error)
            ? input
            : throw new InvalidOperationException(error);
    }

    /// <summary>A tool-call input for <paramref name="agent"/> of <paramref name="tenant"/>.</summary>
    public static DecisionInput ToolCall(string tenant, string agent, string tool, string? argsJson = null, string region = "eu-west-1")
    {
        JsonElement? args = null;
        if (argsJson is not null)
        {
            using var doc = JsonDocument.Parse(argsJson);
            args = doc.RootElement.Clone();
        }

        return new DecisionInput { Tenant = tenant, Agent = new AgentIdentity(agent), Tool = tool, Args = args, Region = region };
    }

    /// <summary>One AgentPolicy document.</summary>
    public static string Policy(string name, string tenant, string rulesYaml, string agents = "", string mode = "enforce", string defaultEffect = "deny", string ns = "default") => $"""
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata:
          name: {name}
          namespace: {ns}
        spec:
          tenant: {tenant}
          mode: {mode}
        {(agents.Length > 0 ? $"  agents: [{agents}]\n" : "")}  defaultEffect: {defaultEffect}
          rules:
        {Indent(rulesYaml, 4)}
        ---

        """;

    private static string Indent(string text, int spaces)
    {
        var pad = new string(' ', spaces);
        return string.Join("\n", text.Split('\n').Select(l => l.Length == 0 ? l : pad + l));
    }
}

/// <summary>Signing keys, one per purpose, and their JWKS, generated once per test process.</summary>
public static class TestKeys
{
    private static readonly Lazy<LocalEd25519Signer> Primary = new(() => LocalEd25519Signer.Generate(KeyPurpose.Bundle));
    private static readonly Lazy<LocalEd25519Signer> Other = new(() => LocalEd25519Signer.Generate(KeyPurpose.Bundle));
    private static readonly Lazy<LocalEd25519Signer> Tokens = new(() => LocalEd25519Signer.Generate(KeyPurpose.Token));
    private static readonly Lazy<LocalEd25519Signer> Audits = new(() => LocalEd25519Signer.Generate(KeyPurpose.Audit));

    /// <summary>The bundle key.</summary>
    public static LocalEd25519Signer Signer => Primary.Value;

    /// <summary>The token key.</summary>
    public static LocalEd25519Signer TokenSigner => Tokens.Value;

    /// <summary>The audit checkpoint key.</summary>
    public static LocalEd25519Signer AuditSigner => Audits.Value;

    /// <summary>A second bundle key that is not in <see cref="Jwks"/>.</summary>
    public static LocalEd25519Signer Stranger => Other.Value;

    /// <summary>The bundle, token and audit keys, each with its purpose.</summary>
    public static JsonWebKeySet Jwks => new([Signer.PublicJwk, TokenSigner.PublicJwk, AuditSigner.PublicJwk]);

    /// <summary>What verifiers built on <see cref="Jwks"/> expect in iss and aud.</summary>
    public static readonly Aegis.Policy.Identity.TokenExpectations Expected = new() { Issuer = "test", Audience = Aegis.Policy.Identity.AgentTokens.DefaultAudience };
}

/// <summary>Agent tokens for tests, minted as the operator's token service does.</summary>
public static class TestTokens
{
    /// <summary>A token of <paramref name="agent"/> of <paramref name="tenant"/> signed by <paramref name="signer"/> (a token key).</summary>
    public static Task<string> MintAsync(ISigner signer, string tenant, string agent, string issuer = Aegis.Policy.Identity.AgentTokens.OperatorIssuer, DateTimeOffset? now = null, TimeSpan? lifetime = null, string audience = Aegis.Policy.Identity.AgentTokens.DefaultAudience) =>
        Aegis.Policy.Identity.AgentTokens.MintAsync(signer, new Aegis.Policy.Identity.TokenGrant { Issuer = issuer, Audience = audience, Tenant = tenant, AgentId = agent },
            now ?? DateTimeOffset.UtcNow, lifetime ?? TimeSpan.FromMinutes(5));
}
