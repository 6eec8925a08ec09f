using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Decisions;
using Aegis.Policy.Tools;

namespace Aegis.Decision.Calls;

/// <summary>
/// A request exactly as the sidecar (or the gateway) saw it on the wire: the method, authority and path it routes on,
/// the headers and the body. Nothing here is what the agent says a call is; readers work out what it is.
/// </summary>
public sealed record ObservedRequest
{
    public required string Method { get; init; }

    /// <summary>host[:port], as routed (for a TLS tunnel, the CONNECT authority or the SNI host with the port).</summary>
    public required string Authority { get; init; }

    /// <summary>The path with its query; "/" when empty.</summary>
    public required string Path { get; init; }

    /// <summary>Lower-case header names; repeated headers joined with commas.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = EmptyHeaders;

    public ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>True for a TLS tunnel (CONNECT, or a TLS connection decided on its SNI): only host and port are known.</summary>
    public bool Tunnel { get; init; }

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();

    /// <summary>The host, lower-cased and without a trailing dot, and the port when the authority names one.</summary>
    public (string Host, int? Port) HostAndPort()
    {
        var (host, port) = Policy.Matching.HostPattern.SplitAuthority(Authority);
        return (host.TrimEnd('.').ToLowerInvariant(), port);
    }

    /// <summary>The path without its query.</summary>
    public string PathWithoutQuery()
    {
        var query = Path.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? Path : Path[..query];
    }

    /// <summary>The query string without the '?', or "".</summary>
    public string Query()
    {
        var query = Path.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? "" : Path[(query + 1)..];
    }

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>What an observed request turned out to be.</summary>
public enum CallKind
{
    /// <summary>Plain HTTP egress to a host no ToolServer serves (or a request of an http ToolServer that is no operation).</summary>
    Egress,

    /// <summary>A tool call read off the wire: its tool name and arguments are known.</summary>
    Tool,

    /// <summary>Protocol traffic that acts on nothing (MCP initialize, ping, notifications, responses, list calls, the SSE stream).</summary>
    Protocol,

    /// <summary>Not understood, or not inspectable where inspection is required: refused before any policy runs.</summary>
    Refused,
}

/// <summary>What the response of an allowed call needs from the sidecar.</summary>
public enum ResponseHandling
{
    /// <summary>Passes untouched.</summary>
    None,

    /// <summary>An MCP tools/list answer: filtered to the tools the agent could ever be allowed to call.</summary>
    FilterToolsList,

    /// <summary>An LLM answer: its usage is read (JSON or SSE) and the reservation settled from it.</summary>
    MeterUsage,
}

/// <summary>
/// A call as read off the wire: what it is, which ToolServer it belongs to, and for tool calls the tool and its
/// arguments, read in place from the body (which this object owns: dispose it after answering).
/// </summary>
public sealed class ObservedCall : IDisposable
{
    private JsonDocument? _body;

    public required CallKind Kind { get; init; }
    public CompiledToolServer? Server { get; init; }
    public string? Tool { get; init; }

    /// <summary>The tool's arguments, an object (for MCP, params.arguments; for LLM APIs, the request body).</summary>
    public JsonElement? Args { get; init; }

    /// <summary>True when the arguments are the query string (an http operation with <c>args: query</c>).</summary>
    public bool ArgsInQuery { get; init; }

    /// <summary>For MCP: the JSON-RPC method and the request id as its raw JSON (so a refusal echoes it exactly).</summary>
    public string? McpMethod { get; init; }

    public string? McpId { get; init; }

    /// <summary>For LLM APIs: the model, the input tokens counted and the output limit the reservation is made for.</summary>
    public LlmRequest? Llm { get; init; }

    /// <summary>For LLM APIs: whether the answer streams (SSE), which decides how usage is read.</summary>
    public bool Streams { get; init; }

    public ResponseHandling Response { get; init; }

    /// <summary>For <see cref="CallKind.Refused"/>: the named reason and what it means.</summary>
    public string? Reason { get; init; }

    public string? Message { get; init; }

    /// <summary>The JSON-RPC error code a refused MCP request is answered with (-32600 invalid request, ...).</summary>
    public int? JsonRpcCode { get; init; }

    /// <summary>The parsed body the arguments point into; disposed with this call.</summary>
    internal JsonDocument? Body
    {
        get => _body;
        init => _body = value;
    }

    public static ObservedCall Egress(CompiledToolServer? server = null) => new() { Kind = CallKind.Egress, Server = server };

    public static ObservedCall Refuse(string reason, string message, CompiledToolServer? server = null, string? mcpId = null, int? jsonRpcCode = null, string? mcpMethod = null) =>
        new() { Kind = CallKind.Refused, Reason = reason, Message = message, Server = server, McpId = mcpId, JsonRpcCode = jsonRpcCode, McpMethod = mcpMethod };

    /// <summary>
    /// The request body with the arguments replaced by <paramref name="redacted"/>: for MCP inside the JSON-RPC
    /// envelope (params.arguments, or params), for the other protocols the whole body.
    /// </summary>
    public byte[] WithArgs(JsonNode? redacted)
    {
        if (McpMethod is null || Body is null)
        {
            return JsonSerializer.SerializeToUtf8Bytes(redacted);
        }

        var root = JsonNode.Parse(Body.RootElement.GetRawText())!;
        if (McpMethod == "tools/call")
        {
            root["params"]!["arguments"] = redacted;
        }
        else
        {
            root["params"] = redacted;
        }

        return JsonSerializer.SerializeToUtf8Bytes(root);
    }

    public void Dispose()
    {
        _body?.Dispose();
        _body = null;
    }
}
