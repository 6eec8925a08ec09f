using System.Globalization;
using System.Text;
using Aegis.Policy.Values;

namespace Aegis.Policy.Conditions.Runtime;

/// <summary>
/// The implementations behind cel-spec's standard overloads. Each takes arguments of the kinds its overload
/// declares and returns a value or a <see cref="CelError"/>; none throws.
/// </summary>
internal static class CelStandardLibrary
{
    private static readonly CelError IntOverflow = new("return error for overflow: integer overflow");
    private static readonly CelError DivisionByZero = new("division by zero");
    private static readonly CelError ModulusByZero = new("modulus by zero");

    // int
    public static object AddInt(object? a, object? b)
    {
        long x = (long)a!, y = (long)b!, r = x + y;
        return ((x ^ r) & (y ^ r)) < 0 ? IntOverflow : r;
    }

    public static object SubtractInt(object? a, object? b)
    {
        long x = (long)a!, y = (long)b!, r = x - y;
        return ((x ^ y) & (x ^ r)) < 0 ? IntOverflow : r;
    }

    public static object MultiplyInt(object? a, object? b)
    {
        long x = (long)a!, y = (long)b!;
        var r = (Int128)x * y;
        return r > long.MaxValue || r < long.MinValue ? IntOverflow : (long)r;
    }

    public static object DivideInt(object? a, object? b)
    {
        long x = (long)a!, y = (long)b!;
        return y == 0 ? DivisionByZero : x == long.MinValue && y == -1 ? IntOverflow : x / y;
    }

    public static object ModuloInt(object? a, object? b)
    {
        long x = (long)a!, y = (long)b!;
        return y == 0 ? ModulusByZero : y == -1 ? 0L : x % y;
    }

    public static object NegateInt(object? a)
    {
        var x = (long)a!;
        return x == long.MinValue ? IntOverflow : -x;
    }

    // uint
    public static object AddUint(object? a, object? b)
    {
        ulong x = (ulong)a!, y = (ulong)b!, r = x + y;
        return r < x ? IntOverflow : r;
    }

    public static object SubtractUint(object? a, object? b)
    {
        ulong x = (ulong)a!, y = (ulong)b!;
        return y > x ? IntOverflow : x - y;
    }

    public static object MultiplyUint(object? a, object? b)
    {
        ulong x = (ulong)a!, y = (ulong)b!;
        var r = (UInt128)x * y;
        return r > ulong.MaxValue ? IntOverflow : (ulong)r;
    }

    public static object DivideUint(object? a, object? b)
    {
        ulong x = (ulong)a!, y = (ulong)b!;
        return y == 0 ? DivisionByZero : x / y;
    }

    public static object ModuloUint(object? a, object? b)
    {
        ulong x = (ulong)a!, y = (ulong)b!;
        return y == 0 ? ModulusByZero : x % y;
    }

    // double
    public static object AddDouble(object? a, object? b) => (double)a! + (double)b!;

    public static object SubtractDouble(object? a, object? b) => (double)a! - (double)b!;

    public static object MultiplyDouble(object? a, object? b) => (double)a! * (double)b!;

    public static object DivideDouble(object? a, object? b) => (double)a! / (double)b!;

    public static object NegateDouble(object? a) => -(double)a!;

    // concatenation
    public static object AddString(object? a, object? b) => string.Concat((string)a!, (string)b!);

    public static object AddBytes(object? a, object? b) => ((CelBytes)a!).Concat((CelBytes)b!);

    public static object AddList(object? a, object? b)
    {
        var left = CelAccess.Iterate(a)!;
        var right = CelAccess.Iterate(b)!;
        return (IReadOnlyList<object?>)[.. left, .. right];
    }

    // time
    public static object AddTimestampDuration(object? a, object? b) => CelTimestamp.Add((CelTimestamp)a!, (CelDuration)b!);

    public static object AddDurationTimestamp(object? a, object? b) => CelTimestamp.Add((CelTimestamp)b!, (CelDuration)a!);

    public static object AddDuration(object? a, object? b) => CelDuration.Add((CelDuration)a!, (CelDuration)b!);

    public static object SubtractTimestamps(object? a, object? b) => CelTimestamp.Subtract((CelTimestamp)a!, (CelTimestamp)b!);

    public static object SubtractTimestampDuration(object? a, object? b) => CelTimestamp.Subtract((CelTimestamp)a!, (CelDuration)b!);

    public static object SubtractDuration(object? a, object? b) => CelDuration.Subtract((CelDuration)a!, (CelDuration)b!);

    public static object Not(object? a) => CelValue.Bool(!(bool)a!);

    // size and strings
    public static object Size(object? a) => a is string s ? CodePointCount(s) : a is CelBytes b ? (long)b.Length : (long)CelAccess.Count(a)!.Value;

    public static long CodePointCount(string s)
    {
        var count = s.Length;
        for (var i = 0; i < s.Length - 1; i++)
        {
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1]))
            {
                count--;
                i++;
            }
        }

        return count;
    }

    public static object Contains(object? a, object? b) => CelValue.Bool(((string)a!).Contains((string)b!, StringComparison.Ordinal));

    public static object StartsWith(object? a, object? b) => CelValue.Bool(((string)a!).StartsWith((string)b!, StringComparison.Ordinal));

    public static object EndsWith(object? a, object? b) => CelValue.Bool(((string)a!).EndsWith((string)b!, StringComparison.Ordinal));

    public static object LowerAscii(object? a) => AsciiCase((string)a!, lower: true);

    public static object UpperAscii(object? a) => AsciiCase((string)a!, lower: false);

    private static string AsciiCase(string s, bool lower) =>
        string.Create(s.Length, (s, lower), static (span, state) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                var c = state.s[i];
                span[i] = state.lower ? (char.IsAsciiLetterUpper(c) ? (char)(c + 32) : c) : (char.IsAsciiLetterLower(c) ? (char)(c - 32) : c);
            }
        });

    // conversions
    public static object Identity(object? a) => a!;

    public static object IntFromUint(object? a) => (ulong)a! <= long.MaxValue ? (long)(ulong)a! : RangeError("int", a);

    // cel-spec: double to int is limited to (minInt, maxInt), both ends excluded; the fraction is truncated.
    public static object IntFromDouble(object? a)
    {
        var d = (double)a!;
        return d > -9223372036854775808.0 && d < 9223372036854775807.0 ? (long)Math.Truncate(d) : RangeError("int", a);
    }

    public static object IntFromString(object? a) =>
        long.TryParse((string)a!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : ConversionError("int", a);

    public static object IntFromTimestamp(object? a) => ((CelTimestamp)a!).Seconds;

    public static object UintFromInt(object? a) => (long)a! >= 0 ? (ulong)(long)a! : RangeError("uint", a);

    public static object UintFromDouble(object? a)
    {
        var d = (double)a!;
        return d >= 0 && d < 18446744073709551616.0 ? (ulong)Math.Truncate(d) : RangeError("uint", a);
    }

    public static object UintFromString(object? a) =>
        ulong.TryParse((string)a!, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : ConversionError("uint", a);

    public static object DoubleFromInt(object? a) => (double)(long)a!;

    public static object DoubleFromUint(object? a) => (double)(ulong)a!;

    public static object DoubleFromString(object? a)
    {
        var s = (string)a!;
        return s switch
        {
            "NaN" => double.NaN,
            "Infinity" or "+Infinity" or "inf" or "+inf" => double.PositiveInfinity,
            "-Infinity" or "-inf" => double.NegativeInfinity,
            _ => double.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var d)
                ? d
                : ConversionError("double", a),
        };
    }

    public static object StringFromValue(object? a) => ToText(a);

    public static object StringFromBytes(object? a)
    {
        var bytes = (CelBytes)a!;
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes.Span);
        }
        catch (DecoderFallbackException)
        {
            return new CelError("invalid UTF-8 in bytes, cannot convert to string");
        }
    }

    public static object BytesFromString(object? a) => new CelBytes(Encoding.UTF8.GetBytes((string)a!));

    // cel-go's strconv.ParseBool forms.
    public static object BoolFromString(object? a) => (string)a! switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => CelValue.True,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => CelValue.False,
        _ => ConversionError("bool", a),
    };

    public static object TimestampFromString(object? a) => CelTimestamp.Parse((string)a!);

    public static object TimestampFromInt(object? a) => CelTimestamp.FromUnixSeconds((long)a!);

    public static object DurationFromString(object? a) => CelDuration.Parse((string)a!);

    private static CelError RangeError(string type, object? a) => new($"range error: {ToText(a)} is out of the {type} range");

    private static CelError ConversionError(string type, object? a) => new($"type conversion error: cannot convert {ToText(a)} to {type}");

    /// <summary>cel-spec's string() of a value; also used in error messages.</summary>
    public static string ToText(object? a) => a switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        ulong u => u.ToString(CultureInfo.InvariantCulture),
        double d => FormatDouble(d),
        CelTimestamp t => t.ToString(),
        CelDuration d => d.ToString(),
        CelBytes b => Encoding.UTF8.GetString(b.Span),
        _ => CelValue.TypeName(a),
    };

    // Go's %g, which cel-go's string(double) uses: the shortest digits that round-trip, in exponent form when the
    // decimal exponent is below -4 or at least 6 ("123.456", "-0.0045", "1e+06", "1.5e-05").
    private static string FormatDouble(double d)
    {
        if (double.IsNaN(d))
        {
            return "NaN";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "+Inf" : "-Inf";
        }

        var r = d.ToString("R", CultureInfo.InvariantCulture);
        var negative = r.StartsWith('-');
        var body = negative ? r[1..] : r;
        var exponent = 0;
        var e = body.IndexOf('E', StringComparison.Ordinal);
        if (e >= 0)
        {
            exponent = int.Parse(body.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            body = body[..e];
        }

        var point = body.IndexOf('.', StringComparison.Ordinal);
        var digits = point >= 0 ? body.Remove(point, 1) : body;
        var dp = (point >= 0 ? point : body.Length) + exponent;
        var trimmed = digits.TrimStart('0');
        dp -= digits.Length - trimmed.Length;
        digits = trimmed.TrimEnd('0');
        if (digits.Length == 0)
        {
            return negative ? "-0" : "0";
        }

        var sb = new StringBuilder();
        if (negative)
        {
            sb.Append('-');
        }

        var exp = dp - 1;
        if (exp < -4 || exp >= 6)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1)
            {
                sb.Append('.').Append(digits, 1, digits.Length - 1);
            }

            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("D2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        if (dp <= 0)
        {
            sb.Append("0.").Append('0', -dp).Append(digits);
        }
        else if (dp >= digits.Length)
        {
            sb.Append(digits).Append('0', dp - digits.Length);
        }
        else
        {
            sb.Append(digits, 0, dp).Append('.').Append(digits, dp, digits.Length - dp);
        }

        return sb.ToString();
    }

    // time parts
    public static object TimestampPart(TimePart part, object? timestamp, object? zone)
    {
        var t = (CelTimestamp)timestamp!;
        long offset = 0;
        if (zone is string name && !TryZoneOffset(name, t, out offset))
        {
            return new CelError($"unknown time zone \"{name}\": use an IANA name such as \"Europe/Berlin\", \"UTC\" or an offset such as \"+02:00\"");
        }

        var c = t.Civil(offset);
        return part switch
        {
            TimePart.FullYear => (long)c.Year,
            TimePart.Month => (long)c.Month - 1,
            TimePart.Date => (long)c.Day,
            TimePart.DayOfMonth => (long)c.Day - 1,
            TimePart.DayOfWeek => (long)c.DayOfWeek,
            TimePart.DayOfYear => (long)c.DayOfYear,
            TimePart.Hours => (long)c.Hour,
            TimePart.Minutes => (long)c.Minute,
            TimePart.Seconds => (long)c.Second,
            _ => (long)(t.Nanos / 1_000_000),
        };
    }

    public static object DurationPart(TimePart part, object? duration)
    {
        var nanos = ((CelDuration)duration!).Nanos;
        return part switch
        {
            TimePart.Hours => nanos / (3600 * CelDuration.NanosPerSecond),
            TimePart.Minutes => nanos / (60 * CelDuration.NanosPerSecond),
            TimePart.Seconds => nanos / CelDuration.NanosPerSecond,
            _ => nanos / 1_000_000 % 1000,
        };
    }

    private static bool TryZoneOffset(string name, CelTimestamp t, out long offsetSeconds)
    {
        offsetSeconds = 0;
        var s = name.AsSpan();
        if (name == "UTC")
        {
            return true;
        }

        // Fixed offsets: [+-]HH:MM (cel-spec), and HH:MM, which the conformance tests also accept.
        var sign = 1;
        if (s.Length == 6 && s[0] is '+' or '-')
        {
            sign = s[0] == '-' ? -1 : 1;
            s = s[1..];
        }

        if (s.Length == 5 && s[2] == ':' && char.IsAsciiDigit(s[0]) && char.IsAsciiDigit(s[1]) && char.IsAsciiDigit(s[3]) && char.IsAsciiDigit(s[4]))
        {
            offsetSeconds = sign * ((((s[0] - '0') * 10) + (s[1] - '0')) * 3600L + ((((s[3] - '0') * 10) + (s[4] - '0')) * 60L));
            return true;
        }

        if (!TimeZones.TryFind(name, out var zone))
        {
            return false;
        }

        // DateTime covers the whole timestamp range, so the zone's rules apply everywhere CEL's timestamps go.
        var utc = DateTime.UnixEpoch.AddSeconds(Math.Clamp(t.Seconds, CelTimestamp.MinSeconds, CelTimestamp.MaxSeconds));
        offsetSeconds = (long)zone.GetUtcOffset(utc).TotalSeconds;
        return true;
    }
}

/// <summary>The timestamp and duration accessors (getHours, getDayOfWeek, ...).</summary>
internal enum TimePart
{
    FullYear,
    Month,
    Date,
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    Hours,
    Minutes,
    Seconds,
    Milliseconds,
}
