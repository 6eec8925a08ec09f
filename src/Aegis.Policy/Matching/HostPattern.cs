using System.Globalization;

namespace Aegis.Policy.Matching;

/// <summary>
/// An egress host pattern: a case-insensitive glob over the DNS name in its ASCII (IDNA) form without a trailing
/// dot, with an optional port. "api.x.com:8443" matches that port only; without a port any port matches. Hosts are
/// compared as <see cref="EgressTarget"/> normalises them.
/// </summary>
public sealed class HostPattern
{
    private readonly Glob _host;
    private readonly int? _port;

    private HostPattern(Glob host, int? port)
    {
        _host = host;
        _port = port;
    }

    /// <summary>Compiles "host-glob[:port]".</summary>
    public static bool TryCompile(string? pattern, out HostPattern result, out string error)
    {
        result = null!;
        if (string.IsNullOrEmpty(pattern))
        {
            error = "is an empty host pattern";
            return false;
        }

        if (pattern.Contains('/', StringComparison.Ordinal))
        {
            error = $"\"{pattern}\" must be a host name (such as api.example.com or *.example.com:8443), not a URL";
            return false;
        }

        var hostPart = pattern;
        int? port = null;
        var colon = pattern.LastIndexOf(':');
        if (colon >= 0)
        {
            hostPart = pattern[..colon];
            if (!int.TryParse(pattern.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
            {
                error = $"\"{pattern}\" has an invalid port (1-65535)";
                return false;
            }

            port = p;
        }

        if (!EgressTarget.TryNormaliseHost(hostPart, out var normalised, out var hostError))
        {
            error = $"\"{pattern}\" {hostError}";
            return false;
        }

        if (!Glob.TryCompile(normalised, ignoreCase: true, out var glob, out var globError))
        {
            error = $"\"{pattern}\" {globError}";
            return false;
        }

        result = new HostPattern(glob, port);
        error = "";
        return true;
    }

    /// <summary>Compiles a pattern validated at load time.</summary>
    public static HostPattern Compile(string pattern) =>
        TryCompile(pattern, out var result, out var error) ? result : throw new FormatException(error);

    /// <summary>Whether the host (normalised, as <see cref="EgressTarget.Host"/>) and port, when the pattern names one, match.</summary>
    public bool IsMatch(string host, int? port) => (_port is null || _port == port) && _host.IsMatch(host);

    /// <summary>Splits "host:port" (or "[v6]:port") from a request's authority.</summary>
    public static (string Host, int? Port) SplitAuthority(string authority)
    {
        var colon = authority.LastIndexOf(':');
        if (colon > 0 && authority.IndexOf(']', colon) < 0
            && int.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return (authority[..colon], port);
        }

        return (authority, null);
    }
}
