using System.Globalization;
using System.Text;

namespace Aegis.Policy.Conditions.Runtime;

/// <summary>A CEL duration: signed nanoseconds in an int64, so about ±292 years, as cel-spec limits it.</summary>
internal readonly record struct CelDuration(long Nanos) : IComparable<CelDuration>
{
    public const long NanosPerSecond = 1_000_000_000;

    private static readonly Int128 MaxFractionScale = 10_000_000_000_000_000_000UL;

    public int CompareTo(CelDuration other) => Nanos.CompareTo(other.Nanos);

    public static object Add(CelDuration a, CelDuration b) => FromNanos((Int128)a.Nanos + b.Nanos);

    public static object Subtract(CelDuration a, CelDuration b) => FromNanos((Int128)a.Nanos - b.Nanos);

    public static object FromNanos(Int128 nanos) => nanos > long.MaxValue || nanos < long.MinValue ? RangeError() : new CelDuration((long)nanos);

    public static CelError RangeError() => new("duration out of range (at most about ±292 years)");

    /// <summary>Go's duration syntax (time.ParseDuration): "0", or signed decimal numbers with units h, m, s, ms, us, µs, ns.</summary>
    public static object Parse(string text)
    {
        var error = new CelError($"invalid duration \"{text}\": expected a number and a unit such as \"90s\", \"1h30m\" or \"-1.5h\" (h, m, s, ms, us, ns)");
        var s = text.AsSpan();
        var negative = false;
        if (s.Length > 0 && s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s is "0")
        {
            return new CelDuration(0);
        }

        if (s.IsEmpty)
        {
            return error;
        }

        Int128 total = 0;
        while (!s.IsEmpty)
        {
            // Integer part, then an optional fraction; one of the two must have digits.
            Int128 whole = 0;
            var i = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                whole = (whole * 10) + (s[i] - '0');
                if (whole > long.MaxValue)
                {
                    return RangeError();
                }

                i++;
            }

            var hasWhole = i > 0;
            Int128 fraction = 0, scale = 1;
            var hasFraction = false;
            if (i < s.Length && s[i] == '.')
            {
                i++;
                while (i < s.Length && char.IsAsciiDigit(s[i]))
                {
                    // Digits past nanosecond precision of the smallest unit cannot change the result; keep 19.
                    if (scale < MaxFractionScale)
                    {
                        fraction = (fraction * 10) + (s[i] - '0');
                        scale *= 10;
                    }

                    hasFraction = true;
                    i++;
                }
            }

            if (!hasWhole && !hasFraction)
            {
                return error;
            }

            s = s[i..];
            var unitLength = 0;
            while (unitLength < s.Length && s[unitLength] != '.' && !char.IsAsciiDigit(s[unitLength]))
            {
                unitLength++;
            }

            long unit = s[..unitLength] switch
            {
                "ns" => 1,
                "us" or "\u00b5s" or "\u03bcs" => 1_000,
                "ms" => 1_000_000,
                "s" => NanosPerSecond,
                "m" => 60 * NanosPerSecond,
                "h" => 3600 * NanosPerSecond,
                _ => 0,
            };
            if (unit == 0)
            {
                return error;
            }

            s = s[unitLength..];
            total += (whole * unit) + (fraction * unit / scale);
            if (total > (Int128)long.MaxValue + 1)
            {
                return RangeError();
            }
        }

        if (negative)
        {
            total = -total;
        }

        return FromNanos(total);
    }

    /// <summary>cel-spec's string(duration): seconds with the fraction the value has, and an "s" ("60.001s", "-1.5s").</summary>
    public override string ToString()
    {
        var magnitude = Nanos < 0 ? (ulong)(-(Int128)Nanos) : (ulong)Nanos;
        var sb = new StringBuilder();
        if (Nanos < 0)
        {
            sb.Append('-');
        }

        sb.Append((magnitude / NanosPerSecond).ToString(CultureInfo.InvariantCulture));
        var fraction = magnitude % NanosPerSecond;
        if (fraction != 0)
        {
            sb.Append('.').Append(fraction.ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0'));
        }

        return sb.Append('s').ToString();
    }
}

/// <summary>A CEL timestamp: Unix seconds and nanoseconds, from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.</summary>
internal readonly record struct CelTimestamp(long Seconds, int Nanos) : IComparable<CelTimestamp>
{
    public const long MinSeconds = -62_135_596_800;
    public const long MaxSeconds = 253_402_300_799;

    public int CompareTo(CelTimestamp other) => Seconds != other.Seconds ? Seconds.CompareTo(other.Seconds) : Nanos.CompareTo(other.Nanos);

    public static CelTimestamp FromDateTimeOffset(DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }

        return new CelTimestamp(seconds, (int)(rest * 100));
    }

    public static CelError RangeError() => new("timestamp out of range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z)");

    public static object FromUnixSeconds(long seconds) =>
        seconds is < MinSeconds or > MaxSeconds ? RangeError() : new CelTimestamp(seconds, 0);

    private Int128 TotalNanos => ((Int128)Seconds * CelDuration.NanosPerSecond) + Nanos;

    private static object FromTotalNanos(Int128 nanos)
    {
        var seconds = (long)Int128.DivRem(nanos, CelDuration.NanosPerSecond).Quotient;
        var rest = (int)(nanos - ((Int128)seconds * CelDuration.NanosPerSecond));
        if (rest < 0)
        {
            seconds--;
            rest += (int)CelDuration.NanosPerSecond;
        }

        return seconds is < MinSeconds or > MaxSeconds ? RangeError() : new CelTimestamp(seconds, rest);
    }

    public static object Add(CelTimestamp t, CelDuration d) => FromTotalNanos(t.TotalNanos + d.Nanos);

    public static object Subtract(CelTimestamp t, CelDuration d) => FromTotalNanos(t.TotalNanos - d.Nanos);

    public static object Subtract(CelTimestamp a, CelTimestamp b)
    {
        return CelDuration.FromNanos(a.TotalNanos - b.TotalNanos);
    }

    /// <summary>RFC 3339 with a required offset: 2006-01-02T15:04:05Z, 2006-01-02T15:04:05.123456789+01:00.</summary>
    public static object Parse(string text)
    {
        var error = new CelError($"invalid timestamp \"{text}\": expected RFC 3339 with an offset, such as \"2026-01-02T15:04:05Z\" or \"2026-01-02T15:04:05.5+01:00\"");
        var s = text.AsSpan();
        if (s.Length < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':'
            || !Digits(s[..4], out var year) || !Digits(s.Slice(5, 2), out var month) || !Digits(s.Slice(8, 2), out var day)
            || !Digits(s.Slice(11, 2), out var hour) || !Digits(s.Slice(14, 2), out var minute) || !Digits(s.Slice(17, 2), out var second))
        {
            return error;
        }

        var i = 19;
        long nanos = 0;
        if (s[i] == '.')
        {
            i++;
            var start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                if (i - start >= 9)
                {
                    return error;
                }

                nanos = (nanos * 10) + (s[i] - '0');
                i++;
            }

            if (i == start)
            {
                return error;
            }

            for (var k = i - start; k < 9; k++)
            {
                nanos *= 10;
            }
        }

        int offsetMinutes;
        var zone = s[i..];
        if (zone is "Z")
        {
            offsetMinutes = 0;
        }
        else if (zone.Length == 6 && zone[0] is '+' or '-' && zone[3] == ':' && Digits(zone.Slice(1, 2), out var oh) && Digits(zone.Slice(4, 2), out var om)
            && oh <= 23 && om <= 59)
        {
            offsetMinutes = (zone[0] == '-' ? -1 : 1) * ((oh * 60) + om);
        }
        else
        {
            return error;
        }

        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
        {
            return error;
        }

        var seconds = (DaysFromCivil(year, month, day) * 86_400L) + (hour * 3600) + (minute * 60) + second - (offsetMinutes * 60L);
        return seconds is < MinSeconds or > MaxSeconds ? RangeError() : new CelTimestamp(seconds, (int)nanos);
    }

    private static bool Digits(ReadOnlySpan<char> s, out int value)
    {
        value = 0;
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }

    /// <summary>RFC 3339 in UTC with as many fraction digits as needed ("2009-02-13T23:31:30Z", "...30.5Z").</summary>
    public override string ToString()
    {
        var parts = Civil(0);
        var sb = new StringBuilder(30);
        sb.Append(CultureInfo.InvariantCulture, $"{parts.Year:D4}-{parts.Month:D2}-{parts.Day:D2}T{parts.Hour:D2}:{parts.Minute:D2}:{parts.Second:D2}");
        if (Nanos != 0)
        {
            sb.Append('.').Append(Nanos.ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0'));
        }

        return sb.Append('Z').ToString();
    }

    /// <summary>The calendar fields of this instant shifted by <paramref name="offsetSeconds"/> (proleptic Gregorian).</summary>
    public CivilTime Civil(long offsetSeconds)
    {
        var local = Seconds + offsetSeconds;
        var days = Math.DivRem(local, 86_400L, out var secondOfDay);
        if (secondOfDay < 0)
        {
            days--;
            secondOfDay += 86_400;
        }

        var (year, month, day) = CivilFromDays(days);

        // 1970-01-01 was a Thursday (4).
        var dayOfWeek = (int)(((days % 7) + 11) % 7);
        var dayOfYear = (int)(days - DaysFromCivil(year, 1, 1));
        return new CivilTime
        {
            Year = year,
            Month = month,
            Day = day,
            Hour = (int)(secondOfDay / 3600),
            Minute = (int)(secondOfDay / 60 % 60),
            Second = (int)(secondOfDay % 60),
            DayOfWeek = dayOfWeek,
            DayOfYear = dayOfYear,
        };
    }

    // Howard Hinnant's days-from-civil algorithms (public domain), over the proleptic Gregorian calendar.
    private static long DaysFromCivil(long y, int m, int d)
    {
        y -= m <= 2 ? 1 : 0;
        var era = (y >= 0 ? y : y - 399) / 400;
        var yoe = y - (era * 400);
        var doy = ((153 * (m + (m > 2 ? -3 : 9))) + 2) / 5 + d - 1;
        var doe = (yoe * 365) + (yoe / 4) - (yoe / 100) + doy;
        return (era * 146_097) + doe - 719_468;
    }

    private static (int Year, int Month, int Day) CivilFromDays(long z)
    {
        z += 719_468;
        var era = (z >= 0 ? z : z - 146_096) / 146_097;
        var doe = z - (era * 146_097);
        var yoe = (doe - (doe / 1460) + (doe / 36_524) - (doe / 146_096)) / 365;
        var y = yoe + (era * 400);
        var doy = doe - ((365 * yoe) + (yoe / 4) - (yoe / 100));
        var mp = ((5 * doy) + 2) / 153;
        var d = doy - (((153 * mp) + 2) / 5) + 1;
        var m = mp < 10 ? mp + 3 : mp - 9;
        return ((int)(y + (m <= 2 ? 1 : 0)), (int)m, (int)d);
    }
}

/// <summary>Calendar fields of a timestamp in some zone.</summary>
internal readonly record struct CivilTime
{
    public int Year { get; init; }
    public int Month { get; init; }
    public int Day { get; init; }
    public int Hour { get; init; }
    public int Minute { get; init; }
    public int Second { get; init; }
    public int DayOfWeek { get; init; }
    public int DayOfYear { get; init; }
}
