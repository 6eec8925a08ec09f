using System.Globalization;

namespace Aegis.Policy.Values;

/// <summary>Parses and formats USD amounts as decimal strings; never floating point.</summary>
public static class Money
{
    /// <summary>At most this many fractional digits (micro-dollars).</summary>
    public const int MaxScale = 6;

    /// <summary>Upper bound that keeps sums of amounts far from decimal overflow.</summary>
    public const decimal MaxValue = 1_000_000_000_000m;

    /// <summary>Parses a non-negative decimal string such as "20.00"; returns an error text when it is not one.</summary>
    public static bool TryParse(string? text, out decimal value, out string error)
    {
        value = 0;
        if (string.IsNullOrEmpty(text))
        {
            error = "must be a decimal string such as \"20.00\", got an empty value";
            return false;
        }

        var dot = -1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '.' && dot < 0 && i > 0 && i < text.Length - 1)
            {
                dot = i;
                continue;
            }

            if (c is < '0' or > '9')
            {
                error = text[0] == '-'
                    ? $"must not be negative, got \"{text}\""
                    : $"must be a decimal string such as \"20.00\" (digits, optionally one '.'), got \"{text}\"";
                return false;
            }
        }

        if (dot >= 0 && text.Length - dot - 1 > MaxScale)
        {
            error = $"has more than {MaxScale} decimal places: \"{text}\"";
            return false;
        }

        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value) || value > MaxValue)
        {
            error = $"is larger than the maximum {MaxValue.ToString(CultureInfo.InvariantCulture)}: \"{text}\"";
            return false;
        }

        error = "";
        return true;
    }

    /// <summary>Canonical text of an amount: invariant culture, no exponent, no trailing zeros beyond two places.</summary>
    public static string Format(decimal value)
    {
        var rounded = decimal.Round(value, MaxScale, MidpointRounding.ToEven);
        var text = rounded.ToString("0.00####", CultureInfo.InvariantCulture);
        return text;
    }
}
