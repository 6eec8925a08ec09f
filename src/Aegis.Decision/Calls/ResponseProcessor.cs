using Aegis.Policy.Tools;

namespace Aegis.Decision.Calls;

/// <summary>
/// What an allowed call's answer needs, handed from the decision to whatever sees the answer: ext_proc (through
/// ext_authz's dynamic metadata, which the agent cannot set) or the gateway (in process).
/// </summary>
public sealed record ResponseTicket
{
    public required ResponseHandling Handling { get; init; }
    public required string DecisionId { get; init; }
    public required string Tenant { get; init; }
    public required string AgentId { get; init; }
    public string? ToolServer { get; init; }

    /// <summary>The MCP request id (raw JSON) whose answer a stream's tools/list filter looks for.</summary>
    public string? McpId { get; init; }

    /// <summary>The reservation a metered answer settles, and the token prices it settles at.</summary>
    public string? Reservation { get; init; }

    public ModelPrice? Prices { get; init; }

    /// <summary>The ticket of an allowed outcome whose answer needs processing, else null.</summary>
    public static ResponseTicket? From(DecisionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (outcome.Kind != OutcomeKind.Allowed || outcome.Call is not { } call || outcome.Agent is not { } agent)
        {
            return null;
        }

        var handling = call.Response switch
        {
            ResponseHandling.FilterToolsList => ResponseHandling.FilterToolsList,

            // Without a reservation priced by tokens there is nothing to settle: the answer passes untouched.
            ResponseHandling.MeterUsage when outcome.ReservationId is not null && outcome.Decision?.ModelPrice is not null => ResponseHandling.MeterUsage,
            _ => ResponseHandling.None,
        };
        return handling == ResponseHandling.None ? null : new ResponseTicket
        {
            Handling = handling,
            DecisionId = outcome.DecisionId,
            Tenant = agent.Tenant,
            AgentId = agent.AgentId,
            ToolServer = call.Server?.Id,
            McpId = call.McpId,
            Reservation = handling == ResponseHandling.MeterUsage ? outcome.ReservationId : null,
            Prices = handling == ResponseHandling.MeterUsage ? outcome.Decision!.ModelPrice : null,
        };
    }
}

/// <summary>How the body of an answer is to be handed to <see cref="ResponseProcessor.ProcessAsync"/>.</summary>
public enum ResponseBodyMode
{
    /// <summary>Not at all: it passes untouched (an error answer, or nothing to do).</summary>
    None,

    /// <summary>Whole, in one piece (a JSON answer).</summary>
    Buffered,

    /// <summary>Chunk by chunk as it arrives (an event stream), each answered at once.</summary>
    Streamed,
}

/// <summary>What to do with the answer's headers.</summary>
public sealed record ResponseStart(ResponseBodyMode Mode, bool RemoveContentLength, string? Refusal);

/// <summary>What to do with one piece of the body: pass it, replace it, or refuse the answer.</summary>
public readonly record struct ResponseChunk(byte[]? Replacement, string? Refusal);

/// <summary>
/// Processes one allowed call's answer, the same way for ext_proc and the gateway: an MCP tools/list answer is
/// filtered to the tools the agent could ever call (JSON, or the answering event of a stream split anywhere); an
/// LLM answer's usage is read (JSON, or the events of a stream) and the reservation settled from it, once. An answer
/// that should be filtered but cannot be read is refused, never passed whole.
/// </summary>
public sealed class ResponseProcessor(DecisionService decisions, ResponseTicket ticket, ObservedRequest via)
{
    /// <summary>A response that should have been processed could not be, so it is not passed on.</summary>
    public const string Unprocessable = "response_unprocessable";

    private SseEventReader? _events;
    private UsageReader? _usage;
    private ToolsListFilter? _filter;
    private bool _settled;

    public ResponseTicket Ticket => ticket;

    /// <summary>The settlement made, once the usage was read (for tests and logs).</summary>
    public SettlementOutcome? Settlement { get; private set; }

    /// <summary>Decides from the status and content type how the body is to be processed.</summary>
    public ResponseStart Start(int status, string? contentType)
    {
        contentType ??= "";
        if (status is < 200 or > 299)
        {
            // An error answer carries neither tools nor usage: it passes, and a reservation stands.
            return new ResponseStart(ResponseBodyMode.None, false, null);
        }

        var filtering = ticket.Handling == ResponseHandling.FilterToolsList;
        if (contentType.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            _events = new SseEventReader();
            return new ResponseStart(ResponseBodyMode.Streamed, filtering, null);
        }

        if (contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return new ResponseStart(ResponseBodyMode.Buffered, filtering, null);
        }

        // A tools/list answer Aegis cannot read would show the agent every tool.
        return filtering
            ? new ResponseStart(ResponseBodyMode.None, false, $"the tools/list answer has content-type \"{contentType}\", neither application/json nor text/event-stream")
            : new ResponseStart(ResponseBodyMode.None, false, null);
    }

    /// <summary>Processes the next piece of the body (the whole of it when buffered; <paramref name="end"/> on the last).</summary>
    public async ValueTask<ResponseChunk> ProcessAsync(ReadOnlyMemory<byte> chunk, bool end, CancellationToken cancellationToken = default)
    {
        return ticket.Handling == ResponseHandling.FilterToolsList ? Filter(chunk.Span, end) : await MeterAsync(chunk, end, cancellationToken).ConfigureAwait(false);
    }

    private ResponseChunk Filter(ReadOnlySpan<byte> chunk, bool end)
    {
        var filter = _filter ??= new ToolsListFilter(ticket.McpId, decisions.ToolsListFilter(ticket.Tenant, ticket.AgentId, ticket.ToolServer, via));
        if (_events is not { } events)
        {
            return filter.FilterJson(chunk) is { } filtered
                ? new ResponseChunk(filtered, null)
                : new ResponseChunk(null, "the tools/list answer is not the JSON-RPC result it should be");
        }

        var output = new List<byte>();
        foreach (var e in events.Push(chunk))
        {
            output.AddRange(filter.FilterEvent(e));
        }

        if (events.Overflowed)
        {
            return new ResponseChunk(null, $"an event of the tools/list stream is larger than {SseEventReader.MaxEventBytes} bytes");
        }

        if (end)
        {
            output.AddRange(events.Drain());
        }

        return new ResponseChunk([.. output], null);
    }

    private async ValueTask<ResponseChunk> MeterAsync(ReadOnlyMemory<byte> chunk, bool end, CancellationToken cancellationToken)
    {
        if (_settled)
        {
            return default;
        }

        TokenUsage? usage;
        if (_events is not { } events)
        {
            usage = UsageReader.FromJson(chunk);
        }
        else
        {
            var meter = _usage ??= new UsageReader();
            foreach (var e in events.Push(chunk.Span))
            {
                meter.Observe(e);
            }

            usage = meter.Final ?? (end ? meter.Complete() : null);
        }

        if (usage is { } used && ticket is { Reservation: { } reservation, Prices: { } prices })
        {
            // The answer is on its way either way; a settlement that fails leaves the reservation standing (never less).
            _settled = true;
            var detail = $"{ticket.ToolServer} usage: {used.InputTokens} input, {used.OutputTokens} output tokens";
            Settlement = await decisions.SettleAsync(ticket.Tenant, ticket.AgentId, reservation, prices.CostOf(used.InputTokens, used.OutputTokens), detail, cancellationToken).ConfigureAwait(false);
        }

        return default;
    }
}
