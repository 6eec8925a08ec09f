using System.Text.Json.Nodes;
using Aegis.Policy.Loading;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using k8s.Autorest;

namespace Aegis.Operator.Tests;

/// <summary>
/// Every <c>x-kubernetes-validations</c> rule in crds/, evaluated by the test API server (with an independent CEL
/// library) on create, update and patch, answering 422 with the rule's exact message as a real API server does.
/// </summary>
public sealed class CrdValidationRuleTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    private KubernetesTestServer Api => _cluster.Server;

    private Kubernetes Client => _cluster.Client;

    public async ValueTask InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.DisposeAsync();
    }

    private const string Rule = "{ name: r, match: { tools: [x] }, effect: allow }";

    /// <summary>Per rule: the kind's plural, a spec that breaks only that rule, and the exact error a real server returns.</summary>
    public static TheoryData<string, string, string> Violations => [.. Cases];

    private static readonly (string Plural, string Spec, string Expected)[] Cases =
    [
        ("agentbudgets", "{ tenant: acme, agents: [a] }", "spec: Invalid value: \"object\": set daily, monthly or rateLimit"),
        ("agentbudgets", "{ tenant: acme, daily: \"1.00\", onExhausted: throttle }", "spec: Invalid value: \"object\": throttle is required when onExhausted is throttle"),
        ("agentbudgets", "{ tenant: acme, daily: \"1.00\", onExhausted: approval_needed }", "spec: Invalid value: \"object\": approval is required when onExhausted is approval_needed"),
        ("agentbudgets", "{ tenant: acme, daily: \"1.00\", prices: [{ tools: [x], perCall: \"0.01\" }] }",
            "spec: Invalid value: \"object\": prices moved to ToolServer: list them under spec.prices of the ToolServer whose tools they price"),
        ("agentpolicies", "{ tenant: acme, rules: [{ name: r, match: { tools: [] }, effect: allow }] }", "spec.rules[0].match: Invalid value: \"object\": match must name tools or egress"),
        ("agentpolicies", "{ tenant: acme, rules: [{ name: r, match: { tools: [x] }, effect: sanitize, redact: [{ detector: email, pattern: \"x\" }] }] }",
            "spec.rules[0].redact[0]: Invalid value: \"object\": set exactly one of detector, pattern or headers"),
        ("agentpolicies", "{ tenant: acme, rules: [{ name: r, match: { tools: [x] }, effect: sanitize, redact: [{ headers: [x-id], pattern: \"x\" }] }] }",
            "spec.rules[0].redact[0]: Invalid value: \"object\": set exactly one of detector, pattern or headers"),
        ("agentpolicies", "{ tenant: acme, rules: [{ name: r, match: { tools: [x] }, effect: approval_needed }] }",
            "spec.rules[0]: Invalid value: \"object\": approval is required when effect is approval_needed"),
        ("agentpolicies", "{ tenant: acme, rules: [{ name: r, match: { tools: [x] }, effect: allow, approval: { approvers: [\"slack:U1\"] } }] }",
            "spec.rules[0]: Invalid value: \"object\": approval is only allowed when effect is approval_needed"),
        ("agentpolicies", "{ tenant: acme, rules: [{ name: r, match: { tools: [x] }, effect: sanitize }] }",
            "spec.rules[0]: Invalid value: \"object\": redact must list at least one detector or pattern when effect is sanitize"),
        ("agentpolicies", "{ tenant: acme, rules: [{ name: r, match: { tools: [x] }, effect: deny, redact: [{ detector: email }] }] }",
            "spec.rules[0]: Invalid value: \"object\": redact is only allowed when effect is sanitize"),
        ("toolservers", "{ tenant: acme, protocol: mcp, url: \"https://m.example/mcp\", operations: [{ name: t, method: POST, path: /t }] }",
            "spec: Invalid value: \"object\": operations are only allowed when protocol is http"),
        ("toolservers", "{ tenant: acme, protocol: http, url: \"https://m.example/\", models: [{ match: m, inputPer1M: \"1\", outputPer1M: \"1\" }] }",
            "spec: Invalid value: \"object\": models are only allowed when protocol is openai or anthropic"),
        ("toolservers", "{ tenant: acme, protocol: mcp, url: \"https://m.example/mcp\", maxOutputTokens: 10 }",
            "spec: Invalid value: \"object\": maxOutputTokens is only allowed when protocol is openai or anthropic"),
    ];

    private static readonly Dictionary<string, string> Kinds = new(StringComparer.Ordinal)
    {
        ["agentbudgets"] = "AgentBudget", ["agentpolicies"] = "AgentPolicy", ["toolservers"] = "ToolServer",
    };

    private static JsonObject Object(string plural, string name, string spec) =>
        YamlJson.Parse($"{{ apiVersion: aegis.dev/v1alpha1, kind: {Kinds[plural]}, metadata: {{ name: {name}, namespace: fin }}, spec: {spec} }}", "test", []).Single()!.AsObject();

    private static async Task<string> RefusedAsync(Func<Task> write)
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(write);
        Assert.Equal(422, (int)error.Response.StatusCode);
        return JsonNode.Parse(error.Response.Content)!["message"]!.ToString();
    }

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Create_ViolatesTheRule_422WithTheRulesExactMessage(string plural, string spec, string expected)
    {
        var message = await RefusedAsync(() => Client.CustomObjects.CreateNamespacedCustomObjectAsync(Object(plural, "bad", spec), "aegis.dev", "v1alpha1", "fin", plural));

        Assert.Equal($"{Kinds[plural]}.aegis.dev \"bad\" is invalid: {expected}", message);
        Assert.Empty(Api.Objects("aegis.dev", plural, "fin"));
    }

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Replace_ViolatesTheRule_422AndTheStoredObjectUnchanged(string plural, string spec, string expected)
    {
        var good = plural switch
        {
            "agentbudgets" => "{ tenant: acme, daily: \"1.00\" }",
            "agentpolicies" => $"{{ tenant: acme, rules: [{Rule}] }}",
            _ => "{ tenant: acme, protocol: openai, url: \"https://api.openai.com/v1\" }",
        };
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(Object(plural, "obj", good), "aegis.dev", "v1alpha1", "fin", plural);
        var stored = Api.Objects("aegis.dev", plural, "fin").Single();
        var replacement = Object(plural, "obj", spec);
        replacement["metadata"]!["resourceVersion"] = stored["metadata"]!["resourceVersion"]!.ToString();

        var message = await RefusedAsync(() => Client.CustomObjects.ReplaceNamespacedCustomObjectAsync(replacement, "aegis.dev", "v1alpha1", "fin", plural, "obj"));

        Assert.Equal($"{Kinds[plural]}.aegis.dev \"obj\" is invalid: {expected}", message);
        Assert.True(JsonNode.DeepEquals(stored, Api.Objects("aegis.dev", plural, "fin").Single()));
    }

    [Fact]
    public async Task Patch_BreaksARule_422WithItsMessage()
    {
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(Object("agentpolicies", "p", $"{{ tenant: acme, rules: [{Rule}] }}"), "aegis.dev", "v1alpha1", "fin", "agentpolicies");

        var message = await RefusedAsync(() => Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new k8s.Models.V1Patch("""{"spec":{"rules":[{"name":"r","match":{"tools":["x"]},"effect":"approval_needed"}]}}""", k8s.Models.V1Patch.PatchType.MergePatch),
            "aegis.dev", "v1alpha1", "fin", "agentpolicies", "p"));

        Assert.Equal("AgentPolicy.aegis.dev \"p\" is invalid: spec.rules[0]: Invalid value: \"object\": approval is required when effect is approval_needed", message);
    }

    [Fact]
    public async Task Create_DefaultedFieldSatisfiesTheRule_IsAccepted()
    {
        // onExhausted defaults to deny before the rules run, so a budget that omits it passes "throttle is required...".
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(Object("agentbudgets", "ok", "{ tenant: acme, daily: \"1.00\" }"), "aegis.dev", "v1alpha1", "fin", "agentbudgets");

        Assert.Equal("deny", Api.Objects("aegis.dev", "agentbudgets", "fin").Single()["spec"]!["onExhausted"]!.ToString());
    }

    [Fact]
    public void Violations_CoverEveryRuleInTheCrds()
    {
        var messages = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml")
            .SelectMany(f => Rules(YamlJson.Parse(File.ReadAllText(f), f, []).Single()!))
            .Order(StringComparer.Ordinal);
        var tested = Cases.Select(v => v.Expected[(v.Expected.IndexOf("\"object\": ", StringComparison.Ordinal) + "\"object\": ".Length)..]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

        Assert.Equal(messages, tested);
    }

    private static IEnumerable<string> Rules(JsonNode node) => node switch
    {
        JsonObject obj => (obj["x-kubernetes-validations"] as JsonArray ?? []).Select(r => r!["message"]!.ToString())
            .Concat(obj.Where(p => p.Key != "x-kubernetes-validations" && p.Value is not null).SelectMany(p => Rules(p.Value!))),
        JsonArray array => array.OfType<JsonNode>().SelectMany(Rules),
        _ => [],
    };
}
