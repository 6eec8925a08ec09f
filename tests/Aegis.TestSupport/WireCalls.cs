using System.Text.Json.Nodes;

namespace Aegis.TestSupport;

/// <summary>
/// Tool calls as they travel on the wire, for tests of the sidecar path: an MCP tools/call POST to the host of the
/// test ToolServer named by the tool's prefix (<c>stripe.transfer</c> → <c>stripe.tools.test</c>, tool
/// <c>transfer</c>), and ToolServer manifests for those hosts.
/// </summary>
public static class WireCalls
{
    /// <summary>The path of every test MCP server's endpoint.</summary>
    public const string McpPath = "/mcp";

    /// <summary>The host of the test ToolServer that serves tools with <paramref name="prefix"/> (without the dot).</summary>
    public static string HostFor(string prefix) => $"{prefix}.tools.test";

    /// <summary>Splits "stripe.transfer" into the server "stripe" and the MCP tool "transfer".</summary>
    public static (string Server, string Name) Split(string tool)
    {
        var dot = tool.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 ? (tool[..dot], tool[(dot + 1)..]) : throw new ArgumentException($"a test tool is named <server>.<name>, got \"{tool}\"", nameof(tool));
    }

    /// <summary>A JSON-RPC tools/call body for the MCP tool <paramref name="name"/> with <paramref name="argsJson"/> (an object, or none).</summary>
    public static string ToolsCall(string name, string? argsJson = null, string id = "1")
    {
        var parameters = new JsonObject { ["name"] = name };
        if (argsJson is not null)
        {
            parameters["arguments"] = JsonNode.Parse(argsJson);
        }

        return new JsonObject { ["jsonrpc"] = "2.0", ["id"] = JsonNode.Parse(id), ["method"] = "tools/call", ["params"] = parameters }.ToJsonString();
    }

    /// <summary>Any other JSON-RPC request, such as tools/list or initialize.</summary>
    public static string Request(string method, string id = "1", string? paramsJson = null)
    {
        var message = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = JsonNode.Parse(id), ["method"] = method };
        if (paramsJson is not null)
        {
            message["params"] = JsonNode.Parse(paramsJson);
        }

        return message.ToJsonString();
    }

    /// <summary>An MCP ToolServer manifest serving the tools <c>&lt;name&gt;.*</c> at <see cref="HostFor"/>.</summary>
    public static string McpServer(string name, string tenant = "acme", string ns = "default", string pricesYaml = "") => $$"""
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: ToolServer
        metadata: { name: {{name}}, namespace: {{ns}} }
        spec:
          tenant: {{tenant}}
          protocol: mcp
          url: https://{{HostFor(name)}}{{McpPath}}
        {{(pricesYaml.Length > 0 ? "  prices: " + pricesYaml + "\n" : "")}}
        """;
}
