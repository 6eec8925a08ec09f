using Aegis.Policy.Tools;
using Aegis.TestSupport;

namespace Aegis.Decision.Tests.Calls;

/// <summary>A tool catalog with one server of each protocol, compiled from manifests as a bundle would be.</summary>
internal static class CatalogFixture
{
    public const string Yaml = """
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: stripe, namespace: fin }
        spec: { tenant: acme, protocol: mcp, url: "https://mcp.stripe.com/mcp", toolPrefix: "stripe." }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: openai, namespace: fin }
        spec:
          tenant: acme
          protocol: openai
          url: https://api.openai.com/v1
          models: [ { match: "gpt-4o*", inputPer1M: "2.50", outputPer1M: "10.00" } ]
          maxOutputTokens: 1000
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: anthropic, namespace: fin }
        spec: { tenant: acme, protocol: anthropic, url: "https://api.anthropic.com" }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: deploy, namespace: fin }
        spec:
          tenant: acme
          protocol: http
          url: https://deploy.acme.internal
          hosts: ["deploy-eu.acme.internal:8443"]
          operations:
            - { name: logs, method: GET, path: "/v1/deployments/*/logs", args: query }
            - { name: create, method: POST, path: "/v1/deployments" }
        """;

    public static readonly ToolCatalog Catalog = PolicyFixtures.SetFor("acme", Yaml).Tools;

    public static CompiledToolServer Server(string name) => Catalog.ById("fin/" + name)!;
}
