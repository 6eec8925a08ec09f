using Aegis.Policy.Values;

namespace Aegis.Policy.Tests.Values;

public class ValueTests
{
    [Theory]
    [InlineData("20.00", 20.00)]
    [InlineData("0", 0)]
    [InlineData("0.002", 0.002)]
    [InlineData("400", 400)]
    [InlineData("0.000001", 0.000001)]
    public void MoneyTryParse_DecimalString_ParsesExactly(string text, double expected)
    {
        Assert.True(Money.TryParse(text, out var value, out var error), error);
        Assert.Equal((decimal)expected, value);
    }

    [Theory]
    [InlineData("-5.00", "must not be negative")]
    [InlineData("1e3", "decimal string")]
    [InlineData("20,00", "decimal string")]
    [InlineData("$20", "decimal string")]
    [InlineData(".5", "decimal string")]
    [InlineData("5.", "decimal string")]
    [InlineData("1.2.3", "decimal string")]
    [InlineData("", "empty")]
    [InlineData("0.0000001", "decimal places")]
    [InlineData("99999999999999999", "maximum")]
    [InlineData("NaN", "decimal string")]
    public void MoneyTryParse_NotADecimal_ReturnsReason(string text, string reasonFragment)
    {
        Assert.False(Money.TryParse(text, out _, out var error));
        Assert.Contains(reasonFragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public void MoneySums_AreExactDecimal_NotFloatingPoint()
    {
        Assert.True(Money.TryParse("0.1", out var a, out _));
        Assert.True(Money.TryParse("0.2", out var b, out _));
        Assert.True(Money.TryParse("0.3", out var c, out _));
        Assert.Equal(c, a + b);
        Assert.Equal("0.30", Money.Format(a + b));
        Assert.Equal("0.002", Money.Format(0.002m));
    }

    [Theory]
    [InlineData("15m", 15 * 60)]
    [InlineData("1h30m", 90 * 60)]
    [InlineData("90s", 90)]
    [InlineData("1.5h", 90 * 60)]
    [InlineData("250ms", 0.25)]
    public void GoDurationTryParse_ValidDuration_Parses(string text, double seconds)
    {
        Assert.True(GoDuration.TryParse(text, out var value, out var error), error);
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
    }

    [Theory]
    [InlineData("15")]
    [InlineData("15 minutes")]
    [InlineData("m")]
    [InlineData("0s")]
    [InlineData("-5m")]
    [InlineData("1d")]
    [InlineData("9000h")]
    [InlineData("")]
    public void GoDurationTryParse_Invalid_ReturnsReason(string text)
    {
        Assert.False(GoDuration.TryParse(text, out _, out var error));
        Assert.NotEmpty(error);
    }
}
