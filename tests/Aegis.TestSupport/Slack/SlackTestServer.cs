using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aegis.TestSupport.Slack;

/// <summary>A message as the fake Slack holds it; chat.update replaces text and blocks.</summary>
public sealed record SlackTestMessage(string Channel, string Ts, string Text, JsonArray? Blocks, string? ThreadTs);

/// <summary>
/// An in-process Slack Web API for tests: <c>chat.postMessage</c> and <c>chat.update</c> as documented, strictly —
/// the bot token as bearer (<c>not_authed</c> / <c>invalid_auth</c> otherwise), a JSON content type, required fields,
/// <c>channel_not_found</c> for unknown channels, <c>message_not_found</c> for unknown ts, errors as HTTP 200 with
/// <c>{ok:false, error}</c>, and HTTP 429 with <c>Retry-After</c> when a test asks for it.
/// </summary>
public sealed class SlackTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, string> _channels = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly List<SlackTestMessage> _messages = [];
    private int _rateLimited;
    private int _retryAfter = 1;
    private long _clock = 1_700_000_000_000_000;

    private SlackTestServer(WebApplication app, string botToken)
    {
        _app = app;
        BotToken = botToken;
    }

    public string BotToken { get; }

    /// <summary>The Web API base, ending in a slash, as <c>https://slack.com/api/</c> would.</summary>
    public Uri ApiUrl { get; private set; } = null!;

    /// <summary>What was posted to response URLs (<see cref="ResponseUrl"/>), in order.</summary>
    public ConcurrentQueue<JsonObject> Responses { get; } = new();

    /// <summary>A response_url for click payloads, served here, as hooks.slack.com would.</summary>
    public string ResponseUrl => new Uri(ApiUrl, "/actions/T0AEGIS/1/xyz").ToString();

    /// <summary>Every call, as "method" or "method:error".</summary>
    public ConcurrentQueue<string> Calls { get; } = new();

    public static async Task<SlackTestServer> StartAsync(string botToken = "xoxb-aegis-test")
    {
        var app = LoopbackPorts.CreateApp();
        var server = new SlackTestServer(app, botToken);
        app.MapPost("/api/{method}", server.HandleAsync);
        app.MapPost("/actions/{**rest}", async (HttpContext context) =>
        {
            if (await JsonNode.ParseAsync(context.Request.Body) is JsonObject response && context.Request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) == true)
            {
                server.Responses.Enqueue(response);
                return Results.Text("ok");
            }

            return Results.Text("invalid_payload", statusCode: StatusCodes.Status400BadRequest);
        });
        await app.StartAsync();
        server.ApiUrl = new Uri(LoopbackPorts.BaseUrl(app) + "/api/");
        return server;
    }

    /// <summary>Makes a channel exist, reachable by its id or by <c>#name</c>/<c>name</c>.</summary>
    public void AddChannel(string id, string name)
    {
        _channels[id] = id;
        _channels[name] = id;
        _channels["#" + name] = id;
    }

    /// <summary>The next <paramref name="count"/> calls get 429 with <c>Retry-After: <paramref name="retryAfterSeconds"/></c>.</summary>
    public void RateLimitNext(int count, int retryAfterSeconds = 1)
    {
        _retryAfter = retryAfterSeconds;
        Volatile.Write(ref _rateLimited, count);
    }

    /// <summary>Top-level messages and thread replies, in posting order, as they are now.</summary>
    public IReadOnlyList<SlackTestMessage> Messages
    {
        get
        {
            lock (_lock)
            {
                return [.. _messages];
            }
        }
    }

    private async Task<IResult> HandleAsync(HttpContext context, string method)
    {
        if (Interlocked.Decrement(ref _rateLimited) >= 0)
        {
            Calls.Enqueue(method + ":ratelimited");
            context.Response.Headers.RetryAfter = _retryAfter.ToString(CultureInfo.InvariantCulture);
            return Results.StatusCode(StatusCodes.Status429TooManyRequests);
        }

        Interlocked.Exchange(ref _rateLimited, 0);
        var auth = context.Request.Headers.Authorization.ToString();
        if (auth.Length == 0)
        {
            return Error(method, "not_authed");
        }

        if (auth != "Bearer " + BotToken)
        {
            return Error(method, "invalid_auth");
        }

        if (context.Request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            // Slack reads form-encoded bodies then; a JSON body sent as anything else arrives as no arguments at all.
            return Error(method, "invalid_arguments");
        }

        JsonObject? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body) as JsonObject;
        }
        catch (JsonException)
        {
            return Error(method, "invalid_json");
        }

        if (body is null)
        {
            return Error(method, "invalid_json");
        }

        if (body["channel"]?.ToString() is not { Length: > 0 } channelArg)
        {
            return Error(method, "channel_not_found");
        }

        if (!_channels.TryGetValue(channelArg, out var channel))
        {
            return Error(method, "channel_not_found");
        }

        var text = body["text"]?.ToString() ?? "";
        var blocks = body["blocks"] as JsonArray;
        if (body["blocks"] is not null and not JsonArray || blocks?.Any(b => b?["type"] is null) == true)
        {
            return Error(method, "invalid_blocks");
        }

        if (text.Length == 0 && blocks is not { Count: > 0 })
        {
            return Error(method, "no_text");
        }

        switch (method)
        {
            case "chat.postMessage":
                var ts = NextTs();
                var thread = body["thread_ts"]?.ToString();
                lock (_lock)
                {
                    if (thread is not null && !_messages.Any(m => m.Channel == channel && m.Ts == thread))
                    {
                        return Error(method, "thread_not_found");
                    }

                    _messages.Add(new SlackTestMessage(channel, ts, text, blocks?.DeepClone().AsArray(), thread));
                }

                Calls.Enqueue(method);
                return Ok(new JsonObject { ["channel"] = channel, ["ts"] = ts, ["message"] = new JsonObject { ["text"] = text } });
            case "chat.update":
                if (body["ts"]?.ToString() is not { Length: > 0 } updateTs)
                {
                    return Error(method, "message_not_found");
                }

                if (channel != channelArg)
                {
                    // chat.update takes a channel id, not a name.
                    return Error(method, "channel_not_found");
                }

                lock (_lock)
                {
                    var index = _messages.FindIndex(m => m.Channel == channel && m.Ts == updateTs);
                    if (index < 0)
                    {
                        return Error(method, "message_not_found");
                    }

                    _messages[index] = _messages[index] with { Text = text, Blocks = blocks?.DeepClone().AsArray() };
                }

                Calls.Enqueue(method);
                return Ok(new JsonObject { ["channel"] = channel, ["ts"] = updateTs, ["text"] = text });
            default:
                return Error(method, "unknown_method");
        }
    }

    private string NextTs()
    {
        var micros = Interlocked.Increment(ref _clock);
        return (micros / 1_000_000).ToString(CultureInfo.InvariantCulture) + "." + (micros % 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
    }

    private IResult Error(string method, string error)
    {
        Calls.Enqueue(method + ":" + error);
        return Results.Text(new JsonObject { ["ok"] = false, ["error"] = error }.ToJsonString(), "application/json");
    }

    private static IResult Ok(JsonObject body)
    {
        body["ok"] = true;
        return Results.Text(body.ToJsonString(), "application/json");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Every text in a Block Kit tree, one per line, as Slack renders them (no JSON escaping).</summary>
public static class SlackText
{
    public static string Of(JsonNode? node) => node switch
    {
        JsonObject o => string.Join("\n", o.Select(p => p.Key == "text" && p.Value is JsonValue v ? v.ToString() : Of(p.Value)).Where(t => t.Length > 0)),
        JsonArray a => string.Join("\n", a.Select(Of).Where(t => t.Length > 0)),
        _ => "",
    };
}
