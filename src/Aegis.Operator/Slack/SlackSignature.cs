using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Aegis.Operator.Slack;

/// <summary>Slack's request signing, version v0: <c>v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{raw body}"))</c>.</summary>
public static class SlackSignature
{
    /// <summary>How far a request's timestamp may be from now; older requests are treated as replays.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    /// <summary>The <c>X-Slack-Signature</c> value for <paramref name="body"/> sent at <paramref name="timestamp"/>.</summary>
    public static string Sign(string secret, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"v0:{timestamp}:");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return "v0=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    /// <summary>Null when the request is Slack's and recent; otherwise why it is refused.</summary>
    public static string? Check(string secret, string? timestamp, string? signature, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signature))
        {
            return "X-Slack-Request-Timestamp and X-Slack-Signature are required";
        }

        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 253_402_300_799)
        {
            return "X-Slack-Request-Timestamp is not a Unix time in seconds";
        }

        if ((now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > Window)
        {
            return $"X-Slack-Request-Timestamp is more than {Window.TotalSeconds:0} s from now (a replay?)";
        }

        // Fixed-time over the ASCII bytes, so the comparison does not reveal how many leading characters matched.
        var expected = Encoding.ASCII.GetBytes(Sign(secret, timestamp, body));
        var given = Encoding.ASCII.GetBytes(signature);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? null : "X-Slack-Signature does not match the body";
    }
}
