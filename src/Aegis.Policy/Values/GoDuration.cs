using System.Globalization;

namespace Aegis.Policy.Values;

/// <summary>Parses durations in the Go / Kubernetes form ("15m", "1h30m", "90s", "250ms").</summary>
public static class GoDuration
{
    /// <summary>Parses <paramref name="text"/>; returns an error text when it is not a positive duration.</summary>
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        error = "";
        if (string.IsNullOrEmpty(text))
        {
            error = "must be a duration such as \"15m\" or \"1h30m\", got an empty value";
            return false;
        }

        double totalTicks = 0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (i == start || !double.TryParse(text.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                error = $"must be a duration such as \"15m\" or \"1h30m\" (units ns, us, ms, s, m, h), got \"{text}\"";
                return false;
            }

            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]) && text[i] != '.')
            {
                i++;
            }

            var ticksPerUnit = text.AsSpan(unitStart, i - unitStart) switch
            {
                "ns" => 0.01,
                "us" or "µs" => 10.0,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => -1.0,
            };
            if (ticksPerUnit < 0)
            {
                error = $"must be a duration such as \"15m\" or \"1h30m\" (units ns, us, ms, s, m, h), got \"{text}\"";
                return false;
            }

            totalTicks += number * ticksPerUnit;
        }

        if (totalTicks <= 0 || totalTicks > TimeSpan.FromDays(366).Ticks)
        {
            error = $"must be greater than zero and at most one year, got \"{text}\"";
            return false;
        }

        value = TimeSpan.FromTicks((long)totalTicks);
        return true;
    }
}
