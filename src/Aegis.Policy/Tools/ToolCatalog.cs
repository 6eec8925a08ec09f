using Aegis.Contracts.Bundles;
using Aegis.Policy.Matching;
using Aegis.Policy.Resources;

namespace Aegis.Policy.Tools;

/// <summary>The price of a model's tokens, USD per million.</summary>
public sealed record ModelPrice(string Model, decimal InputPer1M, decimal OutputPer1M)
{
    /// <summary>The cost of <paramref name="inputTokens"/> and <paramref name="outputTokens"/>, rounded up to the micro-dollar.</summary>
    public decimal CostOf(long inputTokens, long outputTokens)
    {
        var cost = ((inputTokens * InputPer1M) + (outputTokens * OutputPer1M)) / 1_000_000m;
        return Math.Ceiling(cost * 1_000_000m) / 1_000_000m;
    }
}

/// <summary>An HTTP operation of a ToolServer: a method and a path glob that name one tool.</summary>
public sealed class CompiledOperation
{
    public required string Tool { get; init; }
    public required string Method { get; init; }
    public required Glob Path { get; init; }
    public required OperationArgs Args { get; init; }
}

/// <summary>A ToolServer ready for the request path: how to recognise its traffic, read its calls and price them.</summary>
public sealed class CompiledToolServer
{
    public required string Id { get; init; }
    public required ToolProtocol Protocol { get; init; }
    public required Uri Upstream { get; init; }

    /// <summary>True when the upstream is https: the sidecar originates TLS for plain-HTTP requests to it.</summary>
    public bool UpstreamTls => Upstream.Scheme == Uri.UriSchemeHttps;

    /// <summary>The upstream URL's path without a trailing slash ("" for the root): operation paths are read below it.</summary>
    public string BasePath => Upstream.AbsolutePath.TrimEnd('/');

    public required string Prefix { get; init; }
    public required HostPattern[] Hosts { get; init; }
    public required CompiledOperation[] Operations { get; init; }
    public required (GlobSet Tools, decimal PerCall)[] Prices { get; init; }
    public required (Glob Model, ModelPrice Price)[] Models { get; init; }
    public required int MaxOutputTokens { get; init; }

    /// <summary>True for protocols whose calls are metered by tokens (openai, anthropic).</summary>
    public bool MetersTokens => Protocol is ToolProtocol.OpenAI or ToolProtocol.Anthropic;

    /// <summary>The per-call price of <paramref name="tool"/>, if this server prices it.</summary>
    public decimal? PriceOf(string tool)
    {
        foreach (var (tools, perCall) in Prices)
        {
            if (tools.IsMatch(tool))
            {
                return perCall;
            }
        }

        return null;
    }

    /// <summary>The token prices of <paramref name="model"/>: the first matching entry of spec.models.</summary>
    public ModelPrice? PriceOfModel(string model)
    {
        foreach (var (glob, price) in Models)
        {
            if (glob.IsMatch(model))
            {
                return price with { Model = model };
            }
        }

        return null;
    }

    /// <summary>Whether requests to <paramref name="host"/>:<paramref name="port"/> are this server's.</summary>
    public bool Serves(string host, int? port)
    {
        foreach (var pattern in Hosts)
        {
            if (pattern.IsMatch(host, port))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// A tenant's ToolServers. A request to a host one of them serves is read in that server's protocol; a request to
/// any other host is plain egress. When several servers claim a host, the first by id wins (deterministic).
/// </summary>
public sealed class ToolCatalog
{
    public static readonly ToolCatalog Empty = new([]);

    public ToolCatalog(CompiledToolServer[] servers) => Servers = servers;

    /// <summary>The servers, ordered by id.</summary>
    public CompiledToolServer[] Servers { get; }

    /// <summary>The server whose traffic a request to <paramref name="host"/> (lower-case, no trailing dot) is, if any.</summary>
    public CompiledToolServer? ForHost(string host, int? port)
    {
        foreach (var server in Servers)
        {
            if (server.Serves(host, port))
            {
                return server;
            }
        }

        return null;
    }

    /// <summary>The server whose id is <paramref name="id"/>.</summary>
    public CompiledToolServer? ById(string id) => Array.Find(Servers, s => s.Id == id);

    /// <summary>The server a tool name belongs to, by prefix (for callers that name a tool rather than a host).</summary>
    public CompiledToolServer? ForTool(string tool)
    {
        CompiledToolServer? best = null;
        foreach (var server in Servers)
        {
            // The longest prefix wins, so "stripe.connect." beats "stripe.".
            if (tool.StartsWith(server.Prefix, StringComparison.Ordinal) && (best is null || server.Prefix.Length > best.Prefix.Length))
            {
                best = server;
            }
        }

        return best;
    }

    /// <summary>Compiles the bundle's ToolServers; throws <see cref="FormatException"/> naming the first bad field.</summary>
    public static ToolCatalog Compile(IEnumerable<ToolServerData> servers) =>
        new([.. servers.OrderBy(s => s.Id, StringComparer.Ordinal).Select(CompileServer)]);

    private static CompiledToolServer CompileServer(ToolServerData server)
    {
        if (!Uri.TryCreate(server.Url, UriKind.Absolute, out var upstream))
        {
            throw new FormatException($"{server.Id}: spec.url: \"{server.Url}\" is not an absolute URL");
        }

        var hosts = new List<HostPattern> { HostPattern.Compile(upstream.IdnHost) };
        hosts.AddRange((server.Hosts ?? []).Select(HostPattern.Compile));
        return new CompiledToolServer
        {
            Id = server.Id,
            Protocol = server.Protocol switch
            {
                ToolProtocolData.OpenAI => ToolProtocol.OpenAI,
                ToolProtocolData.Anthropic => ToolProtocol.Anthropic,
                ToolProtocolData.Http => ToolProtocol.Http,
                _ => ToolProtocol.Mcp,
            },
            Upstream = upstream,
            Prefix = server.Prefix,
            Hosts = [.. hosts],
            Operations = [.. (server.Operations ?? []).Select(o => new CompiledOperation
            {
                Tool = server.Prefix + o.Name,
                Method = o.Method.ToUpperInvariant(),
                Path = Glob.Compile(o.Path),
                Args = o.Args == OperationArgsData.Query ? OperationArgs.Query : OperationArgs.Body,
            })],
            Prices = [.. (server.Prices ?? []).Select(p => (GlobSet.Of(p.Tools), Money(p.PerCall, server.Id, "spec.prices")))],
            Models = [.. (server.Models ?? []).Select(m => (Glob.Compile(m.Match), new ModelPrice(m.Match, Money(m.InputPer1M, server.Id, "spec.models"), Money(m.OutputPer1M, server.Id, "spec.models"))))],
            MaxOutputTokens = server.MaxOutputTokens ?? 4096,
        };
    }

    private static decimal Money(string text, string id, string field) =>
        Values.Money.TryParse(text, out var value, out var error) ? value : throw new FormatException($"{id}: {field}: {error}");
}
