using System.Text.Json;

namespace Aegis.Decision.Calls;

/// <summary>Tokens an LLM answer reports having used.</summary>
public readonly record struct TokenUsage(long InputTokens, long OutputTokens);

/// <summary>
/// Reads the usage an LLM provider reports (REFERENCE.md §10) from a JSON answer or, event by event, from a stream:
/// OpenAI chat completions (<c>usage.prompt_tokens</c>/<c>completion_tokens</c>, streamed in a last chunk when the
/// request asked for it), OpenAI responses (<c>usage.input_tokens</c>/<c>output_tokens</c>, streamed inside
/// <c>response.completed</c>, <c>response.incomplete</c> or <c>response.failed</c>), and Anthropic messages (input in
/// <c>message_start</c>, cumulative output in each <c>message_delta</c>: replaced, not added). Usage is only final
/// once the answer says so; an interrupted stream yields none, and the reservation stands.
/// </summary>
public sealed class UsageReader
{
    private long? _input;
    private long? _output;

    /// <summary>The usage once it is final; null while the answer has not reported it (or never did).</summary>
    public TokenUsage? Final { get; private set; }

    /// <summary>True when something that claimed to be usage could not be read: the reservation stands.</summary>
    public bool Malformed { get; private set; }

    /// <summary>Reads a whole JSON answer.</summary>
    public static TokenUsage? FromJson(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("usage", out var usage) ? Read(usage) : (TokenUsage?)null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Reads one event of a stream; returns true once the usage is final.</summary>
    public bool Observe(SseEvent message)
    {
        if (Final is not null || message.Data.Length == 0 || message.Data == "[DONE]")
        {
            return Final is not null;
        }

        try
        {
            using var document = JsonDocument.Parse(message.Data);
            var data = document.RootElement;
            if (data.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            var type = data.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : message.Name;
            switch (type)
            {
                case "message_start" when data.TryGetProperty("message", out var start) && start.TryGetProperty("usage", out var startUsage):
                    _input = Tokens(startUsage, "input_tokens") + Tokens(startUsage, "cache_creation_input_tokens") + Tokens(startUsage, "cache_read_input_tokens");
                    _output = Tokens(startUsage, "output_tokens");
                    break;
                case "message_delta" when data.TryGetProperty("usage", out var delta):
                    // Cumulative: the latest figure replaces the earlier one.
                    _output = Tokens(delta, "output_tokens");
                    if (delta.TryGetProperty("input_tokens", out _))
                    {
                        _input = Tokens(delta, "input_tokens") + Tokens(delta, "cache_creation_input_tokens") + Tokens(delta, "cache_read_input_tokens");
                    }

                    break;
                case "message_stop" when _input is not null && _output is not null:
                    Final = new TokenUsage(_input.Value, _output.Value);
                    break;
                case "response.completed" or "response.incomplete" or "response.failed"
                    when data.TryGetProperty("response", out var response) && response.TryGetProperty("usage", out var responseUsage):
                    Final = Read(responseUsage);
                    break;
                default:
                    // An OpenAI chat chunk: usage arrives once, in the last chunk (choices empty), when include_usage was set.
                    if (data.TryGetProperty("object", out var kind) && kind.ValueKind == JsonValueKind.String && kind.ValueEquals("chat.completion.chunk")
                        && data.TryGetProperty("usage", out var chunkUsage) && chunkUsage.ValueKind == JsonValueKind.Object)
                    {
                        Final = Read(chunkUsage);
                    }

                    break;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            Malformed = true;
        }

        return Final is not null;
    }

    /// <summary>At the end of a stream: Anthropic's last cumulative figures count when message_stop was cut off.</summary>
    public TokenUsage? Complete() => Final ?? (_input is { } i && _output is { } o ? new TokenUsage(i, o) : null);

    /// <summary>A usage object; throws <see cref="FormatException"/> when it is not one (the caller does not believe it).</summary>
    private static TokenUsage Read(JsonElement usage)
    {
        if (usage.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("usage is not an object");
        }

        // Chat completions and embeddings say prompt/completion; responses and Anthropic say input/output.
        var input = usage.TryGetProperty("prompt_tokens", out _) ? Tokens(usage, "prompt_tokens")
            : Tokens(usage, "input_tokens") + Tokens(usage, "cache_creation_input_tokens") + Tokens(usage, "cache_read_input_tokens");
        var output = usage.TryGetProperty("completion_tokens", out _) ? Tokens(usage, "completion_tokens") : Tokens(usage, "output_tokens");
        return new TokenUsage(input, output);
    }

    /// <summary>A token count: a whole number of at least 0, else the usage is not believed (throws FormatException).</summary>
    private static long Tokens(JsonElement usage, string name)
    {
        if (!usage.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return 0;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) && n >= 0 ? n : throw new FormatException($"usage.{name} is not a token count");
    }
}
