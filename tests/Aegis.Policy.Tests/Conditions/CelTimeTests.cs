namespace Aegis.Policy.Tests.Conditions;

/// <summary>
/// Timestamps (0001-01-01 to 9999-12-31, nanosecond precision, RFC 3339 with a required offset) and durations
/// (int64 nanoseconds, Go syntax): every overflow and out-of-range value is an error, never an exception.
/// </summary>
public class CelTimeTests
{
    [Theory]
    [InlineData("timestamp('2009-02-13T23:31:30Z') == timestamp(1234567890) && int(timestamp('2009-02-13T23:31:30Z')) == 1234567890", "true")]
    [InlineData("string(timestamp('9999-12-31T23:59:59.999999999Z')) == '9999-12-31T23:59:59.999999999Z'", "true")]
    [InlineData("string(timestamp('2026-01-02T15:04:05.5+01:00')) == '2026-01-02T14:04:05.5Z' && string(timestamp('2026-01-02T15:04:05-00:30')) == '2026-01-02T15:34:05Z'", "true")]
    [InlineData("timestamp('2026-01-02T15:04:05.123456789Z') - timestamp('2026-01-02T15:04:05.123456788Z') == duration('1ns')", "true")]
    [InlineData("timestamp('0001-01-01T00:00:01.000000001Z') + duration('-999999999ns') == timestamp('0001-01-01T00:00:00.000000002Z')", "true")]
    [InlineData("timestamp('0001-01-01T00:00:01.999999999Z') + duration('999999999ns') == timestamp('0001-01-01T00:00:02.999999998Z')", "true")]
    [InlineData("timestamp('2009-02-13T23:31:00Z') - timestamp('2009-02-13T23:29:00Z') == duration('120s') && duration('120s') + timestamp('2009-02-13T23:01:00Z') == timestamp('2009-02-13T23:03:00Z')", "true")]
    // timestamp() needs RFC 3339 with an offset
    [InlineData("timestamp('2026-01-02T15:04:05') < now", "error: invalid timestamp")]
    [InlineData("timestamp('2026-01-02 15:04:05Z') < now", "error: invalid timestamp")]
    [InlineData("timestamp('2026-02-30T00:00:00Z') < now", "error: invalid timestamp")]
    [InlineData("timestamp('2026-01-02T24:00:00Z') < now", "error: invalid timestamp")]
    [InlineData("timestamp('yesterday') < now", "error: 1:1: invalid timestamp \"yesterday\"")]
    // the timestamp range
    [InlineData("timestamp('0000-01-01T00:00:00Z') < now", "error: invalid timestamp")]
    [InlineData("timestamp('10000-01-01T00:00:00Z') > now", "error: invalid timestamp")]
    [InlineData("timestamp('0001-01-01T00:00:00+01:00') < now", "error: timestamp out of range")]
    [InlineData("timestamp(-62135596801) < now", "error: timestamp out of range")]
    [InlineData("timestamp(253402300800) > now", "error: timestamp out of range")]
    [InlineData("timestamp('0001-01-01T00:00:00Z') + duration('-1ns') < now", "error: timestamp out of range")]
    [InlineData("timestamp('9999-12-31T23:59:59.999999999Z') + duration('1ns') > now", "error: timestamp out of range")]
    [InlineData("timestamp('9999-12-31T23:59:59Z') - timestamp('0001-01-01T00:00:00Z') > duration('0')", "error: duration out of range")]
    [InlineData("now + duration(args.currency) > now", "error: invalid duration \"USD\"")]
    // durations: Go syntax, int64 nanoseconds
    [InlineData("duration('1h30m') == duration('90m') && duration('1.5h') == duration('90m') && duration('0') == duration('0s') && duration('-1.5h') == duration('0') - duration('90m')", "true")]
    [InlineData("duration('1us') == duration('1000ns') && duration('1µs') == duration('1us') && duration('1h34us') > duration('1h') && duration('.5s') == duration('500ms')", "true")]
    [InlineData("duration('2562047h47m16.854775807s') > duration('0')", "true")]
    [InlineData("duration('2562047h47m16.854775808s') > duration('0')", "error: duration out of range")]
    [InlineData("duration('320000000000s') > duration('0')", "error: duration out of range")]
    [InlineData("duration('5000000000s') + duration('5000000000s') > duration('0')", "error: duration out of range")]
    [InlineData("duration('-5000000000s') - duration('5000000000s') < duration('0')", "error: duration out of range")]
    [InlineData("duration('1d') > duration('0')", "error: invalid duration")]
    [InlineData("duration('') > duration('0')", "error: invalid duration")]
    [InlineData("duration('1') > duration('0')", "error: invalid duration")]
    [InlineData("string(duration('1m1ms')) == '60.001s' && string(duration('1000000s')) == '1000000s' && string(duration('-1.5s')) == '-1.5s' && string(duration('1ns')) == '0.000000001s'", "true")]
    [InlineData("duration('3730s').getMinutes() == 62 && duration('3730s').getHours() == 1 && duration('3730s').getSeconds() == 3730 && duration('1.234s').getMilliseconds() == 234", "true")]
    // calendar accessors, in UTC or a zone (IANA names and fixed offsets)
    [InlineData("timestamp('2009-02-13T23:31:30Z').getDayOfWeek() == 5 && timestamp('2009-02-13T23:31:30Z').getDayOfYear() == 43 && timestamp('2009-02-13T23:31:30Z').getMonth() == 1", "true")]
    [InlineData("timestamp('2009-02-13T23:31:30Z').getDate() == 13 && timestamp('2009-02-13T23:31:30Z').getDayOfMonth() == 12 && timestamp('2009-02-13T23:31:30Z').getFullYear() == 2009", "true")]
    [InlineData("timestamp('2009-02-13T23:31:20.123456789Z').getMilliseconds() == 123 && timestamp('2009-02-13T23:31:30Z').getSeconds() == 30", "true")]
    [InlineData("timestamp('2009-02-13T23:31:30Z').getDate('Australia/Sydney') == 14 && timestamp('2009-02-13T02:00:00Z').getDayOfMonth('America/St_Johns') == 11", "true")]
    [InlineData("timestamp('2009-02-13T02:00:00Z').getDayOfMonth('-02:30') == 11 && timestamp('2009-02-13T23:31:30Z').getHours('02:00') == 1 && timestamp('2009-02-13T23:31:30Z').getMinutes('Asia/Kathmandu') == 16", "true")]
    [InlineData("timestamp('2009-02-13T23:31:30Z').getFullYear('-09:30') == 2009 && timestamp('2009-02-13T23:31:30Z').getDayOfWeek('UTC') == 5 && timestamp('0001-01-01T00:00:00Z').getDayOfWeek() == 1", "true")]
    [InlineData("now.getHours() == 9 && now.getHours('Asia/Tokyo') == 18 && now.getDayOfWeek() == 4 && now.getMonth() == 10", "true")]
    [InlineData("now.getHours('Mars/Base') == 1", "error: unknown time zone \"Mars/Base\"")]
    [InlineData("now - duration('1h') < now && now - timestamp('2020-01-01T00:00:00Z') > duration('0s') && now > timestamp('2020-01-01T00:00:00Z')", "true")]
    [InlineData("now + now > now", "compile: found no matching overload for '+' applied to '(google.protobuf.Timestamp, google.protobuf.Timestamp)'")]
    [InlineData("-duration('1s') < duration('0')", "compile: found no matching overload for '-'")]
    public void Evaluate_TimestampsAndDurations_FollowCelSpec(string expression, string expected) => CelCases.Check(expression, expected);
}
