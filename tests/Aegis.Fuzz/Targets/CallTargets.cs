using System.Text;
using Aegis.Decision;
using Aegis.Decision.Calls;

namespace Aegis.Fuzz.Targets;

/// <summary>
/// Bodies the agent sends and the upstream answers, read off the wire: MCP JSON-RPC, LLM requests (OpenAI chat
/// completions and responses, Anthropic messages), their usage, and SSE streams. No exception is named: every body
/// must come back as a call, a refusal with its reason, or "no usage".
/// </summary>
internal static class CallTargets
{
    private static readonly (string Tenant, string Authority, string Path)[] McpEndpoints = [("acme", "mcp.stripe.com", "/mcp")];

    private static readonly (string Tenant, string Authority, string Path)[] LlmEndpoints =
    [
        ("acme", "api.openai.com", "/v1/chat/completions"),
        ("globex", "api.openai.com", "/v1/responses"),
        ("globex", "api.openai.com", "/v1/embeddings"),
        ("globex", "api.anthropic.com", "/v1/messages"),
    ];

    public static void Mcp(byte[] input)
    {
        Decide(McpEndpoints, input);

        // The answer side: a tools/list result filtered to what the agent may call, as JSON and as one SSE event.
        var filter = new ToolsListFilter("1", name => name.Length % 2 == 0);
        _ = filter.FilterJson(input);
        _ = filter.FilterEvent(new SseEvent(input, "message", Encoding.UTF8.GetString(input), null));
    }

    public static void Llm(byte[] input) => Decide(LlmEndpoints, input);

    public static void Usage(byte[] input)
    {
        _ = UsageReader.FromJson(input);
        var reader = new UsageReader();
        _ = reader.Observe(new SseEvent(input, null, Encoding.UTF8.GetString(input), null));
        _ = reader.Complete();
    }

    /// <summary>A stream split at a point the input chooses, each event fed to usage metering and tools/list filtering.</summary>
    public static void Sse(byte[] input)
    {
        var split = input.Length == 0 ? 0 : input[0] % (input.Length + 1);
        var events = new SseEventReader();
        var usage = new UsageReader();
        var filter = new ToolsListFilter("1", _ => false);
        foreach (var part in new[] { input.AsSpan(0, split).ToArray(), input.AsSpan(split).ToArray() })
        {
            foreach (var message in events.Push(part))
            {
                _ = usage.Observe(message);
                _ = filter.FilterEvent(message);
            }
        }

        _ = events.Drain();
        _ = usage.Complete();
    }

    private static void Decide((string Tenant, string Authority, string Path)[] endpoints, byte[] body)
    {
        var host = FuzzHost.Instance;
        foreach (var (tenant, authority, path) in endpoints)
        {
            var request = new DecisionRequest
            {
                Token = tenant == "acme" ? host.AcmeToken : host.GlobexToken,
                Observed = new ObservedRequest
                {
                    Method = "POST",
                    Authority = authority,
                    Path = path,
                    Headers = new Dictionary<string, string>(StringComparer.Ordinal) { ["content-type"] = "application/json", ["accept"] = "application/json, text/event-stream" },
                    Body = body,
                },
            };
            var outcome = host.Decisions.DecidePolicyOnly(request, "fuzz");
            FuzzTarget.NoInternalError(outcome.Reason, outcome.Message);
            using (outcome.Call)
            {
                _ = Refusals.For(outcome);
            }
        }
    }
}
