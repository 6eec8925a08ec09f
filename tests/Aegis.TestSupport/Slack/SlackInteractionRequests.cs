using System.Globalization;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Aegis.TestSupport.Slack;

/// <summary>Interaction requests as Slack sends them: a form-encoded <c>payload</c> of block_actions JSON, signed v0.</summary>
public static class SlackInteractionRequests
{
    /// <summary>The form body of a click on the button <paramref name="actionId"/> carrying <paramref name="value"/>.</summary>
    public static string ClickBody(string userId, string actionId, string value, string channel = "C0APPROVE", string messageTs = "1700000000.000001", string responseUrl = "https://hooks.slack.com/actions/T0AEGIS/1/xyz")
    {
        var payload = new JsonObject
        {
            ["type"] = "block_actions",
            ["user"] = new JsonObject { ["id"] = userId, ["username"] = userId.ToLowerInvariant(), ["team_id"] = "T0AEGIS" },
            ["api_app_id"] = "A0AEGIS",
            ["team"] = new JsonObject { ["id"] = "T0AEGIS", ["domain"] = "aegis" },
            ["container"] = new JsonObject { ["type"] = "message", ["message_ts"] = messageTs, ["channel_id"] = channel, ["is_ephemeral"] = false },
            ["channel"] = new JsonObject { ["id"] = channel, ["name"] = "approvals" },
            ["message"] = new JsonObject { ["ts"] = messageTs, ["type"] = "message" },
            ["response_url"] = responseUrl,
            ["trigger_id"] = "1.2.3",
            ["actions"] = new JsonArray
            {
                new JsonObject
                {
                    ["type"] = "button", ["action_id"] = actionId, ["block_id"] = "aegis_approval", ["value"] = value,
                    ["action_ts"] = "1700000001.000002", ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = "Approve" },
                },
            },
        };
        return "payload=" + Uri.EscapeDataString(payload.ToJsonString());
    }

    /// <summary>A POST of <paramref name="body"/> signed with <paramref name="secret"/> at <paramref name="sentAt"/>, as Slack signs it.</summary>
    public static HttpRequestMessage SignedPost(string path, string body, string secret, DateTimeOffset sentAt, string? signatureOverride = null)
    {
        var timestamp = sentAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"v0:{timestamp}:{body}"));
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded") };
        request.Headers.Add("X-Slack-Request-Timestamp", timestamp);
        request.Headers.Add("X-Slack-Signature", signatureOverride ?? "v0=" + Convert.ToHexStringLower(mac));
        return request;
    }
}
