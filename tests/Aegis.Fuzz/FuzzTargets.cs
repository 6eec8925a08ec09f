using Aegis.Fuzz.Targets;

namespace Aegis.Fuzz;

/// <summary>Every fuzz target by name; corpora live in <c>corpus/NAME/</c> and crash regressions in <c>regressions/NAME/</c>.</summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, FuzzTarget> All = new[]
    {
        new FuzzTarget { Name = "manifests", Description = "YAML manifests and policy test files: ManifestLoader, YamlJson, then compiling what loaded", Run = ManifestTarget.Run },
        new FuzzTarget { Name = "check-request", Description = "ext_authz CheckRequest protobuf: CheckRequestMapper, the call read off the wire, the decision and the CheckResponse", Run = WireTargets.CheckRequest },
        new FuzzTarget { Name = "ext-proc", Description = "ext_proc ProcessingRequest stream (length-delimited protobuf) through ExtProcService", Run = WireTargets.ExtProc },
        new FuzzTarget { Name = "mcp", Description = "MCP JSON-RPC request bodies (McpCallReader via the decision) and tools/list answers (ToolsListFilter)", Run = CallTargets.Mcp },
        new FuzzTarget { Name = "llm", Description = "OpenAI and Anthropic request bodies (LlmCallReader via the decision)", Run = CallTargets.Llm },
        new FuzzTarget { Name = "usage", Description = "LLM answers' usage, as JSON and as one stream event (UsageReader)", Run = CallTargets.Usage },
        new FuzzTarget { Name = "sse", Description = "SSE streams split anywhere (SseEventReader), each event metered and filtered", Run = CallTargets.Sse },
        new FuzzTarget { Name = "bundle", Description = "bundle archives: gzip, tar, .manifest, data.json, .signatures.json (BundleVerifier, BundleStore.Offer)", Run = TrustTargets.Bundle },
        new FuzzTarget { Name = "jwt", Description = "agent tokens and JWKS: compact JWS, claims (AgentTokens.Verify, TokenValidator, JsonWebKeySet.Parse)", Run = TrustTargets.Jwt },
        new FuzzTarget { Name = "admission", Description = "AdmissionReview JSON at the operator's pod webhook (PodInjectionWebhook.ReviewAsync)", Run = OperatorTargets.Admission },
        new FuzzTarget { Name = "slack", Description = "Slack interaction payloads (SlackInteractions.Parse)", Run = OperatorTargets.Slack },
        new FuzzTarget { Name = "decide-json", Description = "POST /v1/decide bodies (DecisionApi: read, map, decide, answer)", Run = ApiTargets.Decide },
    }.ToDictionary(t => t.Name, StringComparer.Ordinal);
}
