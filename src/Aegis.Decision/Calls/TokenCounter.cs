using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Aegis.Decision.Calls;

/// <summary>
/// Counts the input tokens of an LLM request body with the o200k_base vocabulary (GPT-4o and later; shipped in the
/// NuGet package, nothing downloaded). Every string value of the body is counted, which covers messages, system
/// prompts, tool definitions and tool results whatever their shape; inline base64 media is counted as a fixed
/// allowance instead of as text. For Anthropic models the count is an estimate (their tokenizer is not public):
/// the reservation is settled from the usage the provider reports.
/// </summary>
public static class TokenCounter
{
    /// <summary>Tokens counted for one inline image or document (a data: URL or base64 source), not its bytes as text.</summary>
    public const int MediaTokens = 1_600;

    /// <summary>Tokens added per message object for the chat format's framing.</summary>
    public const int PerMessageTokens = 4;

    private static readonly Lazy<Tokenizer> O200k = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    /// <summary>The input tokens of <paramref name="body"/>; its top-level model, stream and limit fields are not input.</summary>
    public static long CountInput(JsonElement body)
    {
        long total = 0;
        Count(body, null, ref total);
        return total;
    }

    private static void Count(JsonElement element, string? key, ref long total)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                if (element.TryGetProperty("role", out _))
                {
                    total += PerMessageTokens;
                }

                if (element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("base64")
                    && element.TryGetProperty("data", out _))
                {
                    total += MediaTokens;
                    return;
                }

                foreach (var property in element.EnumerateObject())
                {
                    if (key is null && property.Name is "model" or "stream" or "max_tokens" or "max_completion_tokens" or "max_output_tokens")
                    {
                        continue;
                    }

                    Count(property.Value, property.Name, ref total);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Count(item, key, ref total);
                }

                break;
            case JsonValueKind.String:
                var text = element.GetString()!;
                total += text.StartsWith("data:", StringComparison.Ordinal) && text.Contains(";base64,", StringComparison.Ordinal)
                    ? MediaTokens
                    : O200k.Value.CountTokens(text);
                break;
        }
    }
}
