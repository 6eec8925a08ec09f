using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.Decision.Calls;

/// <summary>
/// Filters an MCP <c>tools/list</c> answer to the tools an agent could ever be allowed to call, as JSON or as the
/// event of an SSE stream that answers the request. Everything else in the answer (nextCursor, _meta, other
/// fields of each tool) is kept, so pagination keeps working; a page may come back empty with its cursor.
/// </summary>
public sealed class ToolsListFilter(string? requestId, Func<string, bool> mayCall)
{
    private readonly JsonNode? _id = requestId is null ? null : JsonNode.Parse(requestId);

    /// <summary>How many tools the last filtered answer hid.</summary>
    public int Hidden { get; private set; }

    /// <summary>The filtered JSON answer, or null when <paramref name="body"/> is not the answer to this request (passed on as is).</summary>
    public byte[]? FilterJson(ReadOnlySpan<byte> body)
    {
        // The parser leaves strings undecoded until read, and reading an invalid UTF-8 one throws: refuse it up front.
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            return null;
        }

        JsonNode? root;
        try
        {
            // Duplicate members are refused at parse time (as for request bodies): JsonObject would throw on first access.
            root = JsonNode.Parse(body, documentOptions: CallReader.BodyOptions);
        }
        catch (JsonException)
        {
            return null;
        }

        // A JSON answer to a POST answers its one request, whatever its id says.
        return Filter(root, matchId: false) ? Encoding.UTF8.GetBytes(root!.ToJsonString()) : null;
    }

    /// <summary>The event, with its data filtered when it is the answer to this request; else its raw bytes unchanged.</summary>
    public byte[] FilterEvent(SseEvent message)
    {
        if (message.Data.Length == 0)
        {
            return message.Raw;
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(message.Data, documentOptions: CallReader.BodyOptions);
        }
        catch (JsonException)
        {
            return message.Raw;
        }

        // A stream also carries the server's own requests and notifications: only the answer to this request is filtered.
        if (!Filter(root, matchId: true))
        {
            return message.Raw;
        }

        var text = new StringBuilder();
        if (message.Id is { } id)
        {
            text.Append("id: ").Append(id).Append('\n');
        }

        if (message.Name is { } name)
        {
            text.Append("event: ").Append(name).Append('\n');
        }

        text.Append("data: ").Append(root!.ToJsonString()).Append("\n\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>Removes the tools nobody lets this agent call; false when this is not the answer to the request.</summary>
    private bool Filter(JsonNode? root, bool matchId)
    {
        if (root is not JsonObject message || (matchId && !JsonNode.DeepEquals(message["id"], _id))
            || message["result"] is not JsonObject result || result["tools"] is not JsonArray tools)
        {
            return false;
        }

        var kept = new JsonArray();
        Hidden = 0;
        foreach (var tool in tools.ToList())
        {
            tools.Remove(tool);
            if (tool is JsonObject entry && entry["name"] is JsonValue name && name.TryGetValue<string>(out var toolName) && mayCall(toolName))
            {
                kept.Add(entry);
            }
            else
            {
                Hidden++;
            }
        }

        result["tools"] = kept;
        return true;
    }
}
