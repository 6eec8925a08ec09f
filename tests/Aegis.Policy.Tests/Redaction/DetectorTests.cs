using Aegis.Policy.Redaction;

namespace Aegis.Policy.Tests.Redaction;

public class DetectorTests
{
    private static string Redact(string detector, string text)
    {
        var redactor = new Redactor([Detectors.Create(detector, null)]);
        return redactor.RedactString(text, "args.x", []);
    }

    [Theory]
    // us_ssn
    [InlineData("us_ssn", "ssn 123-45-6789 on file", "ssn [REDACTED:us_ssn] on file")]
    [InlineData("us_ssn", "000-12-3456", "000-12-3456")]
    [InlineData("us_ssn", "666-12-3456", "666-12-3456")]
    [InlineData("us_ssn", "923-12-3456", "923-12-3456")]
    [InlineData("us_ssn", "123-00-4567", "123-00-4567")]
    [InlineData("us_ssn", "123-45-0000", "123-45-0000")]
    [InlineData("us_ssn", "order 2024-11-2026", "order 2024-11-2026")]
    [InlineData("us_ssn", "1123-45-67890", "1123-45-67890")]
    // email
    [InlineData("email", "write to jane.doe+x@example.co.uk now", "write to [REDACTED:email] now")]
    [InlineData("email", "a@b.c", "a@b.c")]
    [InlineData("email", "user at example.com", "user at example.com")]
    [InlineData("email", "@handle", "@handle")]
    // phone
    [InlineData("phone", "call +1 415-555-2671 today", "call [REDACTED:phone] today")]
    [InlineData("phone", "call (415) 555-2671", "call [REDACTED:phone]")]
    [InlineData("phone", "call +44 20 7946 0958", "call [REDACTED:phone]")]
    [InlineData("phone", "date 2024-01-15", "date 2024-01-15")]
    [InlineData("phone", "id 20240115103000", "id 20240115103000")]
    [InlineData("phone", "v1.2.3", "v1.2.3")]
    // credit_card (Luhn)
    [InlineData("credit_card", "card 4111 1111 1111 1111 exp", "card [REDACTED:credit_card] exp")]
    [InlineData("credit_card", "card 4111-1111-1111-1111", "card [REDACTED:credit_card]")]
    [InlineData("credit_card", "5500005555555559", "[REDACTED:credit_card]")]
    [InlineData("credit_card", "4111 1111 1111 1112", "4111 1111 1111 1112")]
    [InlineData("credit_card", "order 1234567890123", "order 1234567890123")]
    [InlineData("credit_card", "short 4111 1111", "short 4111 1111")]
    // iban (mod-97)
    [InlineData("iban", "pay DE89 3704 0044 0532 0130 00 now", "pay [REDACTED:iban] now")]
    [InlineData("iban", "GB82WEST12345698765432", "[REDACTED:iban]")]
    [InlineData("iban", "DE89 3704 0044 0532 0130 01", "DE89 3704 0044 0532 0130 01")]
    [InlineData("iban", "XX00ABCDEFGHIJKLMNOP", "XX00ABCDEFGHIJKLMNOP")]
    public void Detector_TruePositivesRedacted_FalsePositivesKept(string detector, string input, string expected)
    {
        Assert.Equal(expected, Redact(detector, input));
    }

    [Fact]
    public void RedactString_RecordsPathDetectorAndCount()
    {
        var redactor = new Redactor([Detectors.Create("email", null), Detectors.Create("us_ssn", "***")]);
        var records = new List<RedactionRecord>();
        var result = redactor.RedactString("a@example.com b@example.org 123-45-6789", "args.note", records);
        Assert.Equal("[REDACTED:email] [REDACTED:email] ***", result);
        Assert.Equal([new RedactionRecord("args.note", "email", 2), new RedactionRecord("args.note", "us_ssn", 1)], records);
    }

    [Fact]
    public void CustomPattern_UsesReplacementOrDefault()
    {
        Assert.True(Detectors.TryCreatePattern("MRN-[0-9]{8}", "[MRN]", out var withReplacement, out _));
        Assert.True(Detectors.TryCreatePattern("secret-[a-z]+", null, out var withDefault, out _));
        var redactor = new Redactor([withReplacement, withDefault]);
        Assert.Equal("[MRN] and [REDACTED]", redactor.RedactString("MRN-12345678 and secret-abc", "args", []));
    }

    [Theory]
    [InlineData("(a)\\1")]
    [InlineData("(?=x)y")]
    [InlineData("(?<!x)y")]
    [InlineData("[unclosed")]
    public void CustomPattern_BacktrackingOrInvalid_IsRefused(string pattern)
    {
        Assert.False(Detectors.TryCreatePattern(pattern, null, out _, out var error));
        Assert.Contains("non-backtracking", error, StringComparison.Ordinal);
    }

    [Fact]
    public void CustomPattern_CatastrophicShape_CompletesQuickly()
    {
        // (a+)+$ hangs a backtracking engine on this input; the non-backtracking engine is linear.
        Assert.True(Detectors.TryCreatePattern("(a+)+$", null, out var pattern, out _));
        var input = new string('a', 50_000) + "!";
        var result = new Redactor([pattern]).RedactString(input, "args", []);
        Assert.Equal(input, result);
    }

    [Fact]
    public void Redact_NestedJson_RedactsEveryStringAndKeepsOtherValues()
    {
        using var doc = System.Text.Json.JsonDocument.Parse("""
            {"patient":{"ssn":"123-45-6789","age":42,"tags":["ok","mail me at x@example.com"]},"flag":true,"n":null}
            """);
        var records = new List<RedactionRecord>();
        var redactor = new Redactor([Detectors.Create("us_ssn", null), Detectors.Create("email", null)]);
        var node = redactor.Redact(doc.RootElement, "args", records);
        Assert.Equal(
            """{"patient":{"ssn":"[REDACTED:us_ssn]","age":42,"tags":["ok","mail me at [REDACTED:email]"]},"flag":true,"n":null}""",
            node!.ToJsonString());
        Assert.Equal([new RedactionRecord("args.patient.ssn", "us_ssn", 1), new RedactionRecord("args.patient.tags[1]", "email", 1)], records);
    }

    [Theory]
    [InlineData("4111111111111111", true)]
    [InlineData("4111111111111112", false)]
    [InlineData("79927398713", false)]
    public void LuhnValid_ChecksDigitAndLength(string digits, bool expected) => Assert.Equal(expected, Detectors.LuhnValid(digits));
}
