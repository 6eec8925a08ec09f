using System.Text.Json.Serialization;

namespace Aegis.Policy.Resources;

/// <summary>Where tools live and how their calls are read off the wire: one MCP server, LLM provider or HTTP API.</summary>
[Kind("toolservers", "ts", "Tenant|string|.spec.tenant", "Protocol|string|.spec.protocol", "URL|string|.spec.url", "Ready|string|.status.conditions[?(@.type==\"Ready\")].status", "Revision|string|.status.bundleRevision", "Age|date|.metadata.creationTimestamp")]
public sealed class ToolServer : AegisObject<ToolServerSpec, CompiledObjectStatus>
{
    /// <summary>The kind name.</summary>
    public const string KindName = "ToolServer";

    public ToolServer() => Kind = KindName;

    public override string Tenant => Spec.Tenant;

    /// <summary>The prefix of this server's tool names: <c>spec.toolPrefix</c>, else <c>&lt;metadata.name&gt;.</c>.</summary>
    [JsonIgnore]
    public string ToolPrefix => Spec.ToolPrefix ?? Metadata.Name + ".";
}

/// <summary>The protocol a ToolServer speaks, which decides how its requests are read.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ToolProtocol>))]
public enum ToolProtocol
{
    /// <summary>Model Context Protocol over streamable HTTP: each JSON-RPC request is decided.</summary>
    [JsonStringEnumMemberName("mcp")] Mcp,

    /// <summary>The OpenAI API: chat completions, responses, embeddings, metered by tokens.</summary>
    [JsonStringEnumMemberName("openai")] OpenAI,

    /// <summary>The Anthropic Messages API, metered by tokens.</summary>
    [JsonStringEnumMemberName("anthropic")] Anthropic,

    /// <summary>A plain HTTP API whose operations are declared.</summary>
    [JsonStringEnumMemberName("http")] Http,
}

/// <summary>Where an HTTP operation's arguments are read from.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OperationArgs>))]
public enum OperationArgs
{
    /// <summary>The JSON request body (an object).</summary>
    [JsonStringEnumMemberName("body")] Body,

    /// <summary>The query string, as an object of strings.</summary>
    [JsonStringEnumMemberName("query")] Query,
}

/// <summary>Spec of a ToolServer.</summary>
[CelValidation("self.protocol == 'http' || !has(self.operations)", "operations are only allowed when protocol is http")]
[CelValidation("self.protocol == 'openai' || self.protocol == 'anthropic' || !has(self.models)", "models are only allowed when protocol is openai or anthropic")]
[CelValidation("self.protocol == 'openai' || self.protocol == 'anthropic' || !has(self.maxOutputTokens)", "maxOutputTokens is only allowed when protocol is openai or anthropic")]
public sealed class ToolServerSpec
{
    [Schema(Required = true, Pattern = ResourcePatterns.DnsLabel, Description = "Tenant whose bundle this server's catalog compiles into.")]
    public string Tenant { get; set; } = "";

    [Schema(Required = true, Description = "mcp, openai, anthropic or http: how requests to this server are read.")]
    public ToolProtocol Protocol { get; set; } = ToolProtocol.Mcp;

    [Schema(Required = true, Pattern = ResourcePatterns.ServerUrl, Description = "The upstream (http or https); its host, and hosts, identify this server's traffic.")]
    public string Url { get; set; } = "";

    [Schema(Description = "More host[:port] patterns served by the same server.")]
    public List<string>? Hosts { get; set; }

    [Schema(Pattern = ResourcePatterns.ToolPrefix, Description = "Tool names are <toolPrefix><name>; default \"<metadata.name>.\".")]
    public string? ToolPrefix { get; set; }

    [Schema(ListMapKey = "name", Description = "protocol http: which requests are which tool.")]
    public List<OperationSpec>? Operations { get; set; }

    [Schema(Description = "Cost of one call of the matching tools, decimal USD.")]
    public List<PriceSpec>? Prices { get; set; }

    [Schema(Description = "openai and anthropic: prices per million tokens by model glob; the first match applies.")]
    public List<ModelPriceSpec>? Models { get; set; }

    [Schema(Minimum = 1, Description = "openai and anthropic: output tokens reserved for a request that names no limit (default 4096).")]
    public int? MaxOutputTokens { get; set; }
}

/// <summary>One HTTP operation of a ToolServer: the requests that are the tool <c>&lt;prefix&gt;&lt;name&gt;</c>.</summary>
public sealed class OperationSpec
{
    [Schema(Required = true, Pattern = ResourcePatterns.ToolName)]
    public string Name { get; set; } = "";

    [Schema(Required = true, Pattern = ResourcePatterns.Method)]
    public string Method { get; set; } = "";

    [Schema(Required = true, Description = "A path glob such as /v1/transfers or /v1/customers/*.")]
    public string Path { get; set; } = "";

    [Schema(Default = "body", Description = "body (a JSON object) or query.")]
    public OperationArgs Args { get; set; } = OperationArgs.Body;
}

/// <summary>The price of a model's tokens, decimal USD per million.</summary>
public sealed class ModelPriceSpec
{
    [Schema(Required = true, Description = "A glob over model names, such as gpt-4o-mini*.")]
    public string Match { get; set; } = "";

    [Schema(Required = true, Pattern = ResourcePatterns.Money)]
    public string InputPer1M { get; set; } = "";

    [Schema(Required = true, Pattern = ResourcePatterns.Money)]
    public string OutputPer1M { get; set; } = "";
}
