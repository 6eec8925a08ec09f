using Aegis.Policy.Resources;
using Aegis.Policy.Tools;

namespace Aegis.Decision.Calls;

/// <summary>
/// Works out what an observed request is, from the wire alone: a request to a host one of the tenant's ToolServers
/// serves is read in that server's protocol; a request to any other host is egress; a TLS tunnel to a ToolServer
/// host is refused, because its calls cannot be read.
/// </summary>
public static class CallReader
{
    /// <summary>The most body bytes read; larger bodies are refused (Envoy is configured with the same cap).</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    /// <summary>
    /// How bodies are parsed: a member named twice is refused, because the upstream may read the first where Aegis
    /// would read the last (<c>{"amount": 1, "amount": 99999}</c>), and nesting is bounded.
    /// </summary>
    public static readonly System.Text.Json.JsonDocumentOptions BodyOptions = new() { MaxDepth = 64, AllowDuplicateProperties = false };

    /// <summary>
    /// Parses a body with <see cref="BodyOptions"/>. Invalid UTF-8 is a <see cref="System.Text.Json.JsonException"/> here, as for any
    /// other malformed JSON: the parser leaves strings undecoded, and reading one later would throw something else.
    /// </summary>
    public static System.Text.Json.JsonDocument ParseBody(ReadOnlyMemory<byte> body) =>
        System.Text.Unicode.Utf8.IsValid(body.Span)
            ? System.Text.Json.JsonDocument.Parse(body, BodyOptions)
            : throw new System.Text.Json.JsonException("the body is not valid UTF-8");

    public static ObservedCall Read(ObservedRequest request, ToolCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(catalog);
        var (host, port) = request.HostAndPort();
        var server = catalog.ForHost(host, port);
        if (request.Tunnel || request.Method == "CONNECT")
        {
            return server is null
                ? ObservedCall.Egress()
                : ObservedCall.Refuse(CallReasons.ToolServerRequiresInspection,
                    $"{host} is ToolServer {server.Id}: its calls are read off the wire, which a TLS tunnel hides; use http://{host} through the sidecar, which originates TLS", server);
        }

        if (server is null)
        {
            return ObservedCall.Egress();
        }

        if (request.Body.Length > MaxBodyBytes)
        {
            return ObservedCall.Refuse(CallReasons.BodyTooLarge, $"the body has {request.Body.Length} bytes; Aegis reads at most {MaxBodyBytes}", server);
        }

        return server.Protocol switch
        {
            ToolProtocol.Mcp => McpCallReader.Read(request, server),
            ToolProtocol.OpenAI or ToolProtocol.Anthropic => LlmCallReader.Read(request, server),
            _ => HttpOperationReader.Read(request, server),
        };
    }
}
