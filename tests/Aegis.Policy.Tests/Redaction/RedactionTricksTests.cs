using System.Text.Json;
using Aegis.Policy.Redaction;

namespace Aegis.Policy.Tests.Redaction;

/// <summary>True and false positives of every detector, with the disguises an agent would try.</summary>
public class RedactionTricksTests
{
    private static readonly Redactor All = new(Detectors.Names.Select(n => Detectors.Create(n, null)));

    private static string Redact(string detector, string text, string? key = null) =>
        new Redactor([Detectors.Create(detector, null)]).RedactString(text, "args.x", [], key);

    public static TheoryData<string, string, string?, string> Cases() => new()
    {
        // credit_card: separators, Unicode digits, invisible characters; Luhn and issuer range still apply.
        { "credit_card", "4111.1111.1111.1111", null, "[REDACTED:credit_card]" },
        { "credit_card", "4111/1111/1111/1111", null, "[REDACTED:credit_card]" },
        { "credit_card", "4111_1111_1111_1111", null, "[REDACTED:credit_card]" },
        { "credit_card", "card ４１１１ １１１１ １１１１ １１１１", null, "card [REDACTED:credit_card]" },
        { "credit_card", "card ٤١١١١١١١١١١١١١١١", null, "card [REDACTED:credit_card]" },
        { "credit_card", "4111\u200B1111\u200B1111\u200B1111", null, "[REDACTED:credit_card]" },
        { "credit_card", "4111\u00A01111\u00A01111\u00A01111", null, "[REDACTED:credit_card]" },
        { "credit_card", "4111–1111–1111–1111", null, "[REDACTED:credit_card]" },
        { "credit_card", "amex 3782 822463 10005", null, "amex [REDACTED:credit_card]" },
        { "credit_card", "4111 1111 1111 1111 2024", null, "[REDACTED:credit_card] 2024" },
        { "credit_card", "4111.1111-1111 1111", null, "4111.1111-1111 1111" },
        { "credit_card", "ts 1733270400000", null, "ts 1733270400000" },
        { "credit_card", "order ORD4111111111111111", null, "order ORD4111111111111111" },
        { "credit_card", "order 9111111111111117", null, "order 9111111111111117" },
        { "credit_card", "version 4.1.1.1", null, "version 4.1.1.1" },
        { "credit_card", "ip 192.168.100.200", null, "ip 192.168.100.200" },

        // us_ssn: dashes, other separators; nine bare digits only in SSN context (key or nearby words).
        { "us_ssn", "123 45 6789", null, "[REDACTED:us_ssn]" },
        { "us_ssn", "123.45.6789", null, "[REDACTED:us_ssn]" },
        { "us_ssn", "１２３-４５-６７８９", null, "[REDACTED:us_ssn]" },
        { "us_ssn", "123456789", "ssn", "[REDACTED:us_ssn]" },
        { "us_ssn", "123456789", "customerSsn", "[REDACTED:us_ssn]" },
        { "us_ssn", "123456789", "social_security_number", "[REDACTED:us_ssn]" },
        { "us_ssn", "123456789", "ｓｓｎ", "[REDACTED:us_ssn]" },
        { "us_ssn", "１２３４５６７８９", "x-customer-ssn", "[REDACTED:us_ssn]" },
        { "us_ssn", "SSN: 123456789", null, "SSN: [REDACTED:us_ssn]" },
        { "us_ssn", "social security number 123456789", null, "social security number [REDACTED:us_ssn]" },
        { "us_ssn", "123456789", null, "123456789" },
        { "us_ssn", "123456789", "orderId", "123456789" },
        { "us_ssn", "123456789", "businessName", "123456789" },
        { "us_ssn", "order 123456789 shipped", null, "order 123456789 shipped" },
        { "us_ssn", "zip 12345-6789", null, "zip 12345-6789" },
        { "us_ssn", "123-45.6789", null, "123-45.6789" },
        { "us_ssn", "2024-01-15", null, "2024-01-15" },
        { "us_ssn", "ssn 666-45-6789", null, "ssn 666-45-6789" },

        // email: full-width @ and letters are folded.
        { "email", "jane＠example.com", null, "[REDACTED:email]" },
        { "email", "ｊａｎｅ@example.com", null, "[REDACTED:email]" },
        { "email", "jane\u200B@example.com", null, "[REDACTED:email]" },
        { "email", "see docs@v1", null, "see docs@v1" },
        { "email", "npm i @scope/pkg@1.2.3", null, "npm i @scope/pkg@1.2.3" },

        // phone
        { "phone", "call +1 415 555 2671", null, "call [REDACTED:phone]" },
        { "phone", "call +１ ４１５-５５５-２６７１", null, "call [REDACTED:phone]" },
        { "phone", "at 2024-11-26T09:00:00Z", null, "at 2024-11-26T09:00:00Z" },
        { "phone", "build 1.22.333.4444", null, "build 1.22.333.4444" },
        { "phone", "order 40012345678", null, "order 40012345678" },

        // iban: mod-97, groups, lower case, folded.
        { "iban", "de89 3704 0044 0532 0130 00", null, "[REDACTED:iban]" },
        { "iban", "DE89-3704-0044-0532-0130-00", null, "[REDACTED:iban]" },
        { "iban", "ＤＥ８９３７０４００４４０５３２０１３０００", null, "[REDACTED:iban]" },
        { "iban", "pay DE89 3704 0044 0532 0130 00 and more", null, "pay [REDACTED:iban] and more" },
        { "iban", "DE89 3704 0044 0532 0130 02", null, "DE89 3704 0044 0532 0130 02" },
        { "iban", "SKU AB12CDEF34567890", null, "SKU AB12CDEF34567890" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Detector_DisguisedAndLookAlike_RedactsExactlyTheRealOnes(string detector, string input, string? key, string expected)
    {
        Assert.Equal(expected, Redact(detector, input, key));
    }

    [Fact]
    public void Fold_KeepsUnrelatedCharactersOfTheOriginal()
    {
        // Only the matched span is replaced; the rest of the value is kept exactly, non-ASCII included.
        Assert.Equal("Zahlung für ＩＤ: [REDACTED:credit_card] ✓", Redact("credit_card", "Zahlung für ＩＤ: ４１１１１１１１１１１１１１１１ ✓"));
    }

    public static TheoryData<string, string> Json() => new()
    {
        { """{"card": 4111111111111111}""", """{"card":"[REDACTED:credit_card]"}""" },
        { """{"card": 4.111111111111111e15}""", """{"card":"[REDACTED:credit_card]"}""" },
        { """{"ssn": 123456789}""", """{"ssn":"[REDACTED:us_ssn]"}""" },
        { """{"amount": 123456789}""", """{"amount":123456789}""" },
        { """{"amount": 12.5, "count": 3}""", """{"amount":12.5,"count":3}""" },
        { """{"jane@example.com": {"plan": "pro"}}""", """{"[REDACTED:email]":{"plan":"pro"}}""" },
        { """{"a@example.com": 1, "b@example.com": 2}""", """{"[REDACTED:email]":1,"[REDACTED:email]#2":2}""" },
        { """{"customer": {"ssn": [123456789, "234-56-7890"]}}""", """{"customer":{"ssn":["[REDACTED:us_ssn]","[REDACTED:us_ssn]"]}}""" },
        { """{"notes": "no secrets", "ok": true, "none": null}""", """{"notes":"no secrets","ok":true,"none":null}""" },
    };

    [Theory]
    [MemberData(nameof(Json))]
    public void Redact_NumbersAndKeys_InspectedAndTheResultStaysValidJson(string input, string expected)
    {
        using var doc = JsonDocument.Parse(input);
        var records = new List<RedactionRecord>();

        var redacted = All.Redact(doc.RootElement, "args", records)!.ToJsonString();

        Assert.Equal(expected, redacted);
        using var reparsed = JsonDocument.Parse(redacted);
        Assert.Equal(redacted == System.Text.Json.Nodes.JsonNode.Parse(input)!.ToJsonString(), records.Count == 0);
        Assert.DoesNotContain(records, r => r.Path.Contains('@', StringComparison.Ordinal));
    }

    [Fact]
    public void TryCompile_HeadersSpec_ListsHeadersLowerCasedWithTheirReplacement()
    {
        Assert.True(Redactor.TryCompile(
            [
                new Resources.RedactionSpec { Headers = ["Cookie", "x-api-key"] },
                new Resources.RedactionSpec { Headers = ["x-customer-ssn"], Replacement = "[SSN]" },
                new Resources.RedactionSpec { Detector = "email" },
            ], out var redactor, out var error), error);

        Assert.Equal([new HeaderRedaction("cookie", null), new HeaderRedaction("x-api-key", null), new HeaderRedaction("x-customer-ssn", "[SSN]")], redactor.Headers);
        Assert.Equal(["email"], redactor.Patterns.Select(p => p.Name));
    }

    [Theory]
    [InlineData("[cookie, x-api-key]", "")]
    [InlineData("[Cookie]", "spec.rules[0].redact[0].headers[0]")]
    [InlineData("[host]", "spec.rules[0].redact[0].headers[0]")]
    [InlineData("[\":path\"]", "spec.rules[0].redact[0].headers[0]")]
    [InlineData("[x-aegis-token]", "spec.rules[0].redact[0].headers[0]")]
    [InlineData("[]", "spec.rules[0].redact[0].headers")]
    public void Validate_HeadersSpec_RefusesWhatARuleMayNotRewrite(string headers, string field)
    {
        var yaml = TestSupport.PolicyFixtures.Policy("p", "acme", $"- {{ name: r, match: {{ tools: [x] }}, effect: sanitize, redact: [ {{ headers: {headers} }} ] }}");

        var load = Aegis.Policy.Loading.ManifestLoader.LoadText(yaml, "p.yaml");

        Assert.Equal(field.Length == 0, load.Succeeded);
        if (field.Length > 0)
        {
            Assert.Contains(load.Errors, e => e.ToString().Contains(field, StringComparison.Ordinal));
        }
    }
}
