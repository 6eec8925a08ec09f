using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Aegis.Contracts.State;
using Aegis.Decision.Tests;

namespace Aegis.Attacks;

/// <summary>
/// The agent's side of the real decision server (<see cref="ServerFixture"/>, shared with the decision server's
/// tests): its keys, one per purpose, tokens, CheckRequests over gRPC and the JSON API over HTTP.
/// </summary>
internal static class Attack
{
    /// <summary>
    /// The test MCP servers of tenant acme the attacks call (<c>stripe.*</c>, <c>crm.*</c>, <c>github.*</c>): a tool is
    /// only ever a call read off the wire of a ToolServer's host.
    /// </summary>
    public static readonly string ToolServers = string.Concat(new[] { "stripe", "crm", "github" }.Select(name => TestSupport.WireCalls.McpServer(name, ns: "fin")));

    /// <summary>A decision server on <paramref name="yaml"/> (and <see cref="ToolServers"/>) whose revocation list goes stale after 2 s without Redis.</summary>
    public static Task<ServerFixture> Start(string yaml, DecisionState? state = null, string? adminToken = null, ServerFixture? shareKeysWith = null) =>
        ServerFixture.StartAsync(yaml + "\n" + ToolServers, state: state, shareKeysWith: shareKeysWith, adminToken: adminToken, revocationMaxStaleness: TimeSpan.FromSeconds(2));

    /// <summary><c>POST /v1/decide</c> with the agent's token; the answer's status and JSON.</summary>
    public static async Task<(int Status, JsonNode Body)> DecideAsync(ServerFixture server, string token, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await server.Http.SendAsync(request);
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }
}
