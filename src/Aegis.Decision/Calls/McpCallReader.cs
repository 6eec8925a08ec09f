using System.Text.Json;
using Aegis.Policy.Tools;

namespace Aegis.Decision.Calls;

/// <summary>
/// Reads a request to an MCP server (streamable HTTP, REFERENCE.md §9): each POST body is one JSON-RPC message.
/// <c>tools/call</c> is the tool <c>&lt;prefix&gt;&lt;params.name&gt;</c> with <c>params.arguments</c>;
/// <c>resources/read</c> and <c>prompts/get</c> are the tools <c>&lt;prefix&gt;resources.read</c> and
/// <c>&lt;prefix&gt;prompts.get</c> with their params; initialize, ping, notifications, responses and the list calls
/// act on nothing and pass (tools/list answers are filtered); anything else is refused with a named reason.
/// </summary>
public static class McpCallReader
{
    /// <summary>JSON-RPC 2.0 error codes used in refusals.</summary>
    public const int InvalidRequest = -32600;

    public const int MethodNotFound = -32601;
    public const int InvalidParams = -32602;

    private static readonly HashSet<string> Passing = new(StringComparer.Ordinal)
    {
        "initialize", "ping", "resources/list", "resources/templates/list", "prompts/list",
    };

    public static ObservedCall Read(ObservedRequest request, CompiledToolServer server)
    {
        switch (request.Method)
        {
            case "GET" when request.Header("accept")?.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase) == true:
                // The stream on which the server sends its own requests and notifications; it carries no call.
                return new ObservedCall { Kind = CallKind.Protocol, Server = server, McpMethod = "GET" };
            case "DELETE":
                return new ObservedCall { Kind = CallKind.Protocol, Server = server, McpMethod = "DELETE" };
            case "POST":
                break;
            default:
                return ObservedCall.Refuse(CallReasons.McpRequestNotUnderstood, $"an MCP endpoint takes POST (messages), GET with Accept: text/event-stream and DELETE; this is {request.Method}", server);
        }

        JsonDocument document;
        try
        {
            document = CallReader.ParseBody(request.Body);
        }
        catch (JsonException e)
        {
            // JSON-RPC answers a message whose id cannot be read with id null.
            return ObservedCall.Refuse(CallReasons.McpNotJsonRpc, "the body is not JSON: " + e.Message, server, "null", -32700);
        }

        var call = ReadMessage(document.RootElement, request, server, document);
        if (call.Body is null)
        {
            document.Dispose();
        }

        return call;
    }

    private static ObservedCall ReadMessage(JsonElement root, ObservedRequest request, CompiledToolServer server, JsonDocument document)
    {
        if (root.ValueKind == JsonValueKind.Array)
        {
            return ObservedCall.Refuse(CallReasons.McpBatch, "a JSON-RPC batch: MCP removed batches in 2025-06-18, send one message per request", server, "null", InvalidRequest);
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            return ObservedCall.Refuse(CallReasons.McpNotJsonRpc, "a JSON-RPC message must be an object", server, "null", InvalidRequest);
        }

        var hasId = root.TryGetProperty("id", out var id);
        string? rawId = hasId ? id.GetRawText() : null;
        if (hasId && id.ValueKind is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.Null))
        {
            return ObservedCall.Refuse(CallReasons.McpNotJsonRpc, "id must be a string or a number", server, "null", InvalidRequest);
        }

        if (!root.TryGetProperty("jsonrpc", out var version) || version.ValueKind != JsonValueKind.String || !version.ValueEquals("2.0"))
        {
            return ObservedCall.Refuse(CallReasons.McpNotJsonRpc, "jsonrpc must be \"2.0\"", server, rawId ?? "null", InvalidRequest);
        }

        if (!root.TryGetProperty("method", out var methodElement))
        {
            // A response to a request the server sent (sampling, elicitation, roots): it answers, it does not act.
            return hasId && id.ValueKind != JsonValueKind.Null && (root.TryGetProperty("result", out _) || root.TryGetProperty("error", out _))
                ? new ObservedCall { Kind = CallKind.Protocol, Server = server, McpMethod = "response", McpId = rawId }
                : ObservedCall.Refuse(CallReasons.McpNotJsonRpc, "neither a request (method), nor a response (id with result or error)", server, rawId ?? "null", InvalidRequest);
        }

        if (methodElement.ValueKind != JsonValueKind.String || methodElement.GetString() is not { Length: > 0 } method)
        {
            return ObservedCall.Refuse(CallReasons.McpNotJsonRpc, "method must be a non-empty string", server, rawId ?? "null", InvalidRequest);
        }

        if (hasId && id.ValueKind == JsonValueKind.Null)
        {
            return ObservedCall.Refuse(CallReasons.McpNotJsonRpc, "a request id must not be null (MCP)", server, "null", InvalidRequest, method);
        }

        if (!hasId)
        {
            // A notification gets no answer and acts on nothing the server would not be told anyway.
            return method.StartsWith("notifications/", StringComparison.Ordinal)
                ? new ObservedCall { Kind = CallKind.Protocol, Server = server, McpMethod = method }
                : ObservedCall.Refuse(CallReasons.McpMethodNotAllowed, $"\"{method}\" without an id is neither a request nor a notifications/* message", server, null, MethodNotFound, method);
        }

        root.TryGetProperty("params", out var parameters);
        var headerName = request.Header("mcp-name");
        if (request.Header("mcp-method") is { } headerMethod && headerMethod != method)
        {
            return ObservedCall.Refuse(CallReasons.McpHeaderMismatch, $"the Mcp-Method header says \"{headerMethod}\", the body \"{method}\"", server, rawId, InvalidRequest, method);
        }

        switch (method)
        {
            case "tools/call":
            {
                if (parameters.ValueKind != JsonValueKind.Object || !parameters.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                    || !IsToolName(name.GetString()!))
                {
                    return ObservedCall.Refuse(CallReasons.McpParamsInvalid, "tools/call needs params.name, a tool name of 1-128 letters, digits, '_', '-' or '.'", server, rawId, InvalidParams, method);
                }

                var arguments = parameters.TryGetProperty("arguments", out var a) ? a : default;
                if (arguments.ValueKind is not (JsonValueKind.Object or JsonValueKind.Undefined or JsonValueKind.Null))
                {
                    return ObservedCall.Refuse(CallReasons.McpParamsInvalid, "tools/call params.arguments must be an object", server, rawId, InvalidParams, method);
                }

                var toolName = name.GetString()!;
                if (headerName is not null && headerName != toolName)
                {
                    return ObservedCall.Refuse(CallReasons.McpHeaderMismatch, $"the Mcp-Name header says \"{headerName}\", the body \"{toolName}\"", server, rawId, InvalidRequest, method);
                }

                return new ObservedCall
                {
                    Kind = CallKind.Tool,
                    Server = server,
                    Tool = server.Prefix + toolName,
                    Args = arguments.ValueKind == JsonValueKind.Object ? arguments : EmptyObject.Value,
                    McpMethod = method,
                    McpId = rawId,
                    Body = document,
                };
            }

            case "resources/read" or "prompts/get":
            {
                var required = method == "resources/read" ? "uri" : "name";
                if (parameters.ValueKind != JsonValueKind.Object || !parameters.TryGetProperty(required, out var key) || key.ValueKind != JsonValueKind.String)
                {
                    return ObservedCall.Refuse(CallReasons.McpParamsInvalid, $"{method} needs params.{required} (a string)", server, rawId, InvalidParams, method);
                }

                return new ObservedCall
                {
                    Kind = CallKind.Tool,
                    Server = server,
                    Tool = server.Prefix + (method == "resources/read" ? "resources.read" : "prompts.get"),
                    Args = parameters,
                    McpMethod = method,
                    McpId = rawId,
                    Body = document,
                };
            }

            case "tools/list":
                return new ObservedCall { Kind = CallKind.Protocol, Server = server, McpMethod = method, McpId = rawId, Response = ResponseHandling.FilterToolsList };
            default:
                return Passing.Contains(method)
                    ? new ObservedCall { Kind = CallKind.Protocol, Server = server, McpMethod = method, McpId = rawId }
                    : ObservedCall.Refuse(CallReasons.McpMethodNotAllowed, $"Aegis does not allow the MCP method \"{method}\" (it decides tools/call, resources/read and prompts/get)", server, rawId, MethodNotFound, method);
        }
    }

    /// <summary>MCP tool names: 1-128 characters of [A-Za-z0-9_.-], case-sensitive.</summary>
    public static bool IsToolName(string name)
    {
        if (name.Length is < 1 or > 128)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The arguments of a call that sends none: an empty object, shared (JsonElement of a document never disposed).</summary>
    internal static class EmptyObject
    {
        private static readonly JsonDocument Document = JsonDocument.Parse("{}");

        public static JsonElement Value => Document.RootElement;
    }
}
