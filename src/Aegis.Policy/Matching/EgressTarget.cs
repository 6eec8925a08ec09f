using System.Globalization;
using System.Text;

namespace Aegis.Policy.Matching;

/// <summary>Why an egress request's destination cannot be matched; the names double as decision reasons.</summary>
public static class EgressRejection
{
    /// <summary>The authority carries user-info, a bad port, or a host that is not a DNS name or IP literal.</summary>
    public const string HostInvalid = "egress_host_invalid";

    /// <summary>The path has malformed percent-encoding, a backslash, control characters, or is not absolute.</summary>
    public const string PathInvalid = "egress_path_invalid";
}

/// <summary>
/// An egress request's destination as rules match it, computed once per decision (DESIGN.md "AgentPolicy"): the host
/// lower-cased, in its ASCII (IDNA) form, without a trailing dot or port; the port, when one is given; the path
/// with the query dropped, percent-encoded unreserved characters decoded (any other escape kept, so <c>%2F</c> never
/// makes a segment), <c>//</c> collapsed and <c>.</c>/<c>..</c> segments resolved (RFC 3986 §5.2.4). A destination
/// that cannot be read that way is <see cref="Invalid"/>, and the call is denied rather than matched as sent.
/// </summary>
public sealed class EgressTarget
{
    private static readonly IdnMapping Idn = new() { UseStd3AsciiRules = false, AllowUnassigned = false };

    private EgressTarget(string host, int? port, string path, string? invalid, string? message)
    {
        Host = host;
        Port = port;
        Path = path;
        Invalid = invalid;
        Message = message;
    }

    public string Host { get; }

    public int? Port { get; }

    public string Path { get; }

    /// <summary>Null when the destination is understood; else <see cref="EgressRejection.HostInvalid"/> or <see cref="EgressRejection.PathInvalid"/>.</summary>
    public string? Invalid { get; }

    /// <summary>What was wrong, for the decision's message.</summary>
    public string? Message { get; }

    /// <summary>Normalises <paramref name="authority"/> (host[:port]) and <paramref name="path"/> (with any query).</summary>
    public static EgressTarget Parse(string authority, string path)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(path);
        if (!TryHost(authority, out var host, out var port, out var hostError))
        {
            return new EgressTarget("", null, "", EgressRejection.HostInvalid, $"the authority \"{authority}\" {hostError}");
        }

        return TryPath(path, out var normalised, out var pathError)
            ? new EgressTarget(host, port, normalised, null, null)
            : new EgressTarget(host, port, "", EgressRejection.PathInvalid, $"the path \"{path}\" {pathError}");
    }

    /// <summary>A host name or pattern in the form hosts are compared in: ASCII (IDNA), lower case, no trailing dot.</summary>
    public static bool TryNormaliseHost(string host, out string normalised, out string error)
    {
        normalised = "";
        if (host.EndsWith('.'))
        {
            host = host[..^1];
        }

        if (host.Length == 0 || host.StartsWith('.') || host.EndsWith('.') || host.Contains("..", StringComparison.Ordinal))
        {
            error = "has an empty label";
            return false;
        }

        if (!Ascii.IsValid(host))
        {
            try
            {
                // Label by label, so a wildcard label of a pattern stays as written.
                host = string.Join('.', host.Split('.').Select(label => Ascii.IsValid(label) ? label : Idn.GetAscii(label)));
            }
            catch (ArgumentException e)
            {
                error = "is not a valid internationalised domain name: " + e.Message;
                return false;
            }
        }

        foreach (var c in host)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '.' or '_' or '*' or '?' or '[' or ']' or ':'))
            {
                error = $"contains '{c}', which no host name has";
                return false;
            }
        }

        normalised = host.ToLowerInvariant();
        error = "";
        return true;
    }

    private static bool TryHost(string authority, out string host, out int? port, out string error)
    {
        host = "";
        port = null;
        if (authority.Contains('@', StringComparison.Ordinal))
        {
            // http://api.stripe.com@evil.example/ : which host is meant depends on who parses it. Refuse.
            error = "carries user-info (user@host), which a request through the proxy never needs";
            return false;
        }

        var hostPart = authority;
        var close = authority.LastIndexOf(']');
        var colon = authority.LastIndexOf(':');
        if (colon > close)
        {
            hostPart = authority[..colon];
            var portText = authority.AsSpan(colon + 1);
            if (portText.Length > 0)
            {
                if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
                {
                    error = "has an invalid port (1-65535)";
                    return false;
                }

                port = p;
            }
        }

        if (hostPart.StartsWith('['))
        {
            if (!hostPart.EndsWith(']') || !System.Net.IPAddress.TryParse(hostPart[1..^1], out _))
            {
                error = "has a malformed IPv6 literal";
                return false;
            }

            host = hostPart.ToLowerInvariant();
            error = "";
            return true;
        }

        if (!TryNormaliseHost(hostPart, out host, out error))
        {
            return false;
        }

        if (host.AsSpan().IndexOfAny("*?[]:") >= 0)
        {
            error = "contains a character no host name has";
            return false;
        }

        return true;
    }

    private static bool TryPath(string raw, out string path, out string error)
    {
        path = "";
        var end = raw.AsSpan().IndexOfAny('?', '#');
        var text = end < 0 ? raw : raw[..end];
        if (text.Length == 0)
        {
            text = "/";
        }

        if (text[0] != '/')
        {
            error = "is not an absolute path (it must start with '/')";
            return false;
        }

        var decoded = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c) || c == '\\' || c == ' ')
            {
                // Servers differ on whether '\' separates segments: a path that depends on it is refused.
                error = c == '\\' ? "contains a backslash" : "contains a control character or a space";
                return false;
            }

            if (c != '%')
            {
                decoded.Append(c);
                continue;
            }

            if (i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2]))
            {
                error = $"has malformed percent-encoding at position {i + 1}";
                return false;
            }

            var value = (char)Convert.ToByte(text.Substring(i + 1, 2), 16);
            if (char.IsAsciiLetterOrDigit(value) || value is '-' or '.' or '_' or '~')
            {
                decoded.Append(value);
            }
            else
            {
                // Reserved and non-ASCII bytes stay encoded (upper-case hex), so %2F is never a separator.
                decoded.Append('%').Append(char.ToUpperInvariant(text[i + 1])).Append(char.ToUpperInvariant(text[i + 2]));
            }

            i += 2;
        }

        path = RemoveDotSegments(decoded.ToString());
        error = "";
        return true;
    }

    // RFC 3986 §5.2.4 over segments, with empty segments (from "//") dropped; a trailing '/' is kept.
    private static string RemoveDotSegments(string path)
    {
        var segments = path.Split('/');
        var output = new List<string>(segments.Length);
        var trailing = false;
        for (var i = 1; i < segments.Length; i++)
        {
            var segment = segments[i];
            var last = i == segments.Length - 1;
            switch (segment)
            {
                case "" or ".":
                    trailing = last;
                    break;
                case "..":
                    if (output.Count > 0)
                    {
                        output.RemoveAt(output.Count - 1);
                    }

                    trailing = last;
                    break;
                default:
                    output.Add(segment);
                    trailing = false;
                    break;
            }
        }

        var result = "/" + string.Join('/', output);
        return trailing && result.Length > 1 ? result + "/" : result;
    }
}
