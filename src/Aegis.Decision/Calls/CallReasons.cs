namespace Aegis.Decision.Calls;

/// <summary>Why a request was refused before any policy ran: it could not be read, or not be inspected. Metric labels.</summary>
public static class CallReasons
{
    /// <summary>A TLS tunnel (CONNECT or SNI) to a ToolServer's host: its calls cannot be read, so it is refused.</summary>
    public const string ToolServerRequiresInspection = "tool_server_requires_inspection";

    /// <summary>A tunnel that only an argument-, path- or method-dependent rule, or a sanitize rule, would allow.</summary>
    public const string TunnelRequiresInspection = Policy.Decisions.DecisionReasons.TunnelRequiresInspection;

    /// <summary>A body sent to an MCP server that is not a JSON-RPC 2.0 request, notification or response.</summary>
    public const string McpNotJsonRpc = "mcp_not_jsonrpc";

    /// <summary>A JSON array of messages: batches were removed from MCP in 2025-06-18.</summary>
    public const string McpBatch = "mcp_batch_not_supported";

    /// <summary>An MCP method Aegis does not decide (only initialize, ping, notifications, tools/*, resources/read, prompts/get and the list calls).</summary>
    public const string McpMethodNotAllowed = "mcp_method_not_allowed";

    /// <summary>tools/call, resources/read or prompts/get with params that are not what the specification says.</summary>
    public const string McpParamsInvalid = "mcp_params_invalid";

    /// <summary>Mcp-Method / Mcp-Name headers that disagree with the body: the server might act on the header.</summary>
    public const string McpHeaderMismatch = "mcp_header_mismatch";

    /// <summary>An HTTP method an MCP endpoint does not serve (only POST, the GET event stream and DELETE).</summary>
    public const string McpRequestNotUnderstood = "mcp_request_not_understood";

    /// <summary>An LLM API request whose body is not the JSON object the provider documents (no model, bad limits).</summary>
    public const string LlmRequestMalformed = "llm_request_malformed";

    /// <summary>An http ToolServer operation whose arguments cannot be read (a body that is not a JSON object).</summary>
    public const string OperationArgsInvalid = "operation_args_invalid";

    /// <summary>A body larger than the decision server reads.</summary>
    public const string BodyTooLarge = "body_too_large";

    /// <summary>Protocol traffic that acts on nothing (MCP initialize, ping, notifications, responses, the SSE stream).</summary>
    public const string ProtocolPassthrough = Policy.Decisions.DecisionReasons.ProtocolPassthrough;
}
