using System.Globalization;

namespace Aegis.Policy.Values;

/// <summary>Parses durations in the Go / Kubernetes / CEL form ("15m", "1h30m", "90s", "250ms", "-1.5h").</summary>
public static class GoDuration
{
    private const string Form = "must be a duration such as \"15m\" or \"1h30m\" (units ns, us, ms, s, m, h)";

    /// <summary>Parses a positive duration of at most a year (the form CRD fields take).</summary>
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text))
        {
            error = Form + ", got an empty value";
            return false;
        }

        if (ParseSigned(text) is not { } parsed)
        {
            error = $"{Form}, got \"{text}\"";
            return false;
        }

        if (parsed <= TimeSpan.Zero || parsed > TimeSpan.FromDays(366))
        {
            error = $"must be greater than zero and at most one year, got \"{text}\"";
            return false;
        }

        value = parsed;
        error = "";
        return true;
    }

    /// <summary>Parses any duration: an optional sign, "0", or decimal numbers with units; null when malformed.</summary>
    public static TimeSpan? ParseSigned(string text)
    {
        var negative = text.StartsWith('-');
        var body = negative || text.StartsWith('+') ? text[1..] : text;
        if (body == "0")
        {
            return TimeSpan.Zero;
        }

        if (body.Length == 0)
        {
            return null;
        }

        decimal ticks = 0;
        var i = 0;
        while (i < body.Length)
        {
            var start = i;
            while (i < body.Length && (char.IsAsciiDigit(body[i]) || body[i] == '.'))
            {
                i++;
            }

            if (!decimal.TryParse(body.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return null;
            }

            var unitStart = i;
            while (i < body.Length && !char.IsAsciiDigit(body[i]) && body[i] != '.')
            {
                i++;
            }

            decimal? ticksPerUnit = body.AsSpan(unitStart, i - unitStart) switch
            {
                "ns" => 0.01m,
                "us" or "µs" => 10,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => null,
            };
            if (ticksPerUnit is null)
            {
                return null;
            }

            ticks += number * ticksPerUnit.Value;
            if (ticks > TimeSpan.MaxValue.Ticks)
            {
                return null;
            }
        }

        var span = TimeSpan.FromTicks((long)ticks);
        return negative ? -span : span;
    }
}
