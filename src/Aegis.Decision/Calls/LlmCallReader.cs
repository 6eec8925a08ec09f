using System.Text;
using System.Text.Json;
using Aegis.Policy.Decisions;
using Aegis.Policy.Resources;
using Aegis.Policy.Tools;

namespace Aegis.Decision.Calls;

/// <summary>
/// Reads a request to an LLM provider (REFERENCE.md §10): the call is the tool <c>&lt;prefix&gt;&lt;operation&gt;</c>
/// (<c>openai.chat.completions</c>, <c>openai.responses</c>, <c>openai.embeddings</c>, <c>anthropic.messages</c>, ...)
/// with the JSON body as its arguments, so rules can restrict models (<c>args.model</c>). For the metered operations
/// the reservation is priced from the model, the input tokens counted here and the request's output limit.
/// </summary>
public static class LlmCallReader
{
    public static ObservedCall Read(ObservedRequest request, CompiledToolServer server)
    {
        var operation = Operation(request.PathWithoutQuery(), server.BasePath);
        var tool = server.Prefix + operation;
        if (request.Body.IsEmpty)
        {
            return request.Method == "POST" && IsMetered(server.Protocol, operation)
                ? ObservedCall.Refuse(CallReasons.LlmRequestMalformed, $"{request.Method} {request.PathWithoutQuery()} needs a JSON body naming the model", server)
                : new ObservedCall { Kind = CallKind.Tool, Server = server, Tool = tool, Args = McpCallReader.EmptyObject.Value };
        }

        JsonDocument document;
        try
        {
            document = CallReader.ParseBody(request.Body);
        }
        catch (JsonException e)
        {
            return ObservedCall.Refuse(CallReasons.LlmRequestMalformed, "the body is not JSON (Aegis reads JSON bodies only): " + e.Message, server);
        }

        var body = document.RootElement;
        if (body.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return ObservedCall.Refuse(CallReasons.LlmRequestMalformed, "the body must be a JSON object", server);
        }

        if (!IsMetered(server.Protocol, operation))
        {
            return new ObservedCall { Kind = CallKind.Tool, Server = server, Tool = tool, Args = body, Body = document };
        }

        if (!body.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.String || model.GetString() is not { Length: > 0 } modelName)
        {
            document.Dispose();
            return ObservedCall.Refuse(CallReasons.LlmRequestMalformed, "the body must name the model (\"model\": a string)", server);
        }

        if (OutputLimit(body, server, operation) is not { } output)
        {
            document.Dispose();
            return ObservedCall.Refuse(CallReasons.LlmRequestMalformed, "max_tokens, max_completion_tokens, max_output_tokens and n must be whole numbers of at least 1", server);
        }

        return new ObservedCall
        {
            Kind = CallKind.Tool,
            Server = server,
            Tool = tool,
            Args = body,
            Body = document,
            Llm = new LlmRequest(modelName, TokenCounter.CountInput(body), output),
            Streams = body.TryGetProperty("stream", out var stream) && stream.ValueKind == JsonValueKind.True,
            Response = ResponseHandling.MeterUsage,
        };
    }

    /// <summary>
    /// The operation name of a request path: below the ToolServer URL's path, without a leading version segment
    /// (<c>/v1</c>), segments joined with dots (<c>/v1/chat/completions</c> → <c>chat.completions</c>).
    /// </summary>
    public static string Operation(string path, string basePath)
    {
        if (basePath.Length > 0 && path.StartsWith(basePath, StringComparison.Ordinal) && (path.Length == basePath.Length || path[basePath.Length] == '/'))
        {
            path = path[basePath.Length..];
        }

        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).ToList();
        if (segments.Count > 0 && segments[0].Length > 1 && segments[0][0] == 'v' && segments[0][1..].All(char.IsAsciiDigit))
        {
            segments.RemoveAt(0);
        }

        if (segments.Count == 0)
        {
            return "root";
        }

        var name = new StringBuilder();
        foreach (var segment in segments)
        {
            if (name.Length > 0)
            {
                name.Append('.');
            }

            foreach (var c in segment)
            {
                name.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_');
            }
        }

        return name.ToString();
    }

    private static bool IsMetered(ToolProtocol protocol, string operation) => protocol switch
    {
        ToolProtocol.OpenAI => operation is "chat.completions" or "completions" or "responses" or "embeddings",
        ToolProtocol.Anthropic => operation is "messages",
        _ => false,
    };

    /// <summary>The output tokens the request may produce: its own limit (times n choices), else the server's default.</summary>
    private static long? OutputLimit(JsonElement body, CompiledToolServer server, string operation)
    {
        if (operation == "embeddings")
        {
            return 0;
        }

        string[] fields = operation switch
        {
            "chat.completions" => ["max_completion_tokens", "max_tokens"],
            "responses" => ["max_output_tokens"],
            _ => ["max_tokens"],
        };
        long? limit = null;
        foreach (var field in fields)
        {
            if (body.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var n) || n < 1)
                {
                    return null;
                }

                limit ??= n;
            }
        }

        long choices = 1;
        if (body.TryGetProperty("n", out var count) && count.ValueKind != JsonValueKind.Null
            && (count.ValueKind != JsonValueKind.Number || !count.TryGetInt64(out choices) || choices < 1 || choices > 128))
        {
            return null;
        }

        // Both at most 2^63/128: the product cannot overflow, and a silly limit only prices the call out of budget.
        return Math.Min(limit ?? server.MaxOutputTokens, long.MaxValue / 128) * choices;
    }
}
