using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.Operator.Slack;

/// <summary>A Web API call Slack refused: its <c>error</c> code (such as <c>channel_not_found</c>) and the method.</summary>
public sealed class SlackException(string method, string error) : Exception($"Slack {method} failed: {error}")
{
    public string Method { get; } = method;
    public string Error { get; } = error;
}

/// <summary>A posted Slack message: the channel id and its <c>ts</c>, which together address it for chat.update.</summary>
public sealed record SlackMessage(string Channel, string Ts);

/// <summary>
/// The few Slack Web API methods approvals need, over HttpClient: JSON bodies, the bot token as bearer, Slack's
/// <c>{ok:false, error}</c> answers as <see cref="SlackException"/>, and HTTP 429 waited out per <c>Retry-After</c>.
/// </summary>
public sealed class SlackClient(HttpClient http, Uri apiBase, string botToken, TimeProvider time)
{
    /// <summary>The public Web API.</summary>
    public static readonly Uri SlackApi = new("https://slack.com/api/");

    /// <summary>How many 429 answers are waited out before giving up.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>The longest Retry-After honoured; a longer one fails the call so a caller's queue retries later.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>chat.postMessage: posts to <paramref name="channel"/> (in the thread of <paramref name="threadTs"/> when given).</summary>
    public async Task<SlackMessage> PostMessageAsync(string channel, string text, JsonArray blocks, string? threadTs = null, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["channel"] = channel, ["text"] = text, ["blocks"] = blocks.DeepClone() };
        if (threadTs is not null)
        {
            body["thread_ts"] = threadTs;
        }

        var answer = await CallAsync("chat.postMessage", body, cancellationToken).ConfigureAwait(false);
        return new SlackMessage(answer["channel"]?.ToString() ?? channel, answer["ts"]?.ToString() ?? throw new SlackException("chat.postMessage", "no ts in the answer"));
    }

    /// <summary>chat.update: replaces the text and blocks of the message <paramref name="ts"/> in <paramref name="channel"/> (a channel id).</summary>
    public Task UpdateAsync(string channel, string ts, string text, JsonArray blocks, CancellationToken cancellationToken = default) =>
        CallAsync("chat.update", new JsonObject { ["channel"] = channel, ["ts"] = ts, ["text"] = text, ["blocks"] = blocks.DeepClone() }, cancellationToken);

    private async Task<JsonObject> CallAsync(string method, JsonObject body, CancellationToken cancellationToken)
    {
        var payload = body.ToJsonString();
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(apiBase, method))
            {
                Content = new StringContent(payload, Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", botToken);
            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                if (attempt >= MaxRetries || wait > MaxRetryAfter)
                {
                    throw new SlackException(method, $"ratelimited (Retry-After {wait.TotalSeconds:0} s)");
                }

                await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new SlackException(method, $"http_{(int)response.StatusCode}");
            }

            JsonObject? answer;
            try
            {
                answer = JsonNode.Parse(text) as JsonObject;
            }
            catch (JsonException)
            {
                answer = null;
            }

            if (answer is null)
            {
                throw new SlackException(method, "invalid_response (not a JSON object)");
            }

            if (answer["ok"]?.GetValueKind() != JsonValueKind.True)
            {
                throw new SlackException(method, answer["error"]?.ToString() ?? "unknown_error");
            }

            return answer;
        }
    }
}
