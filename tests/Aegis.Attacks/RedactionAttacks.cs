using Aegis.Decision.Tests;
using static Aegis.Attacks.Attack;

namespace Aegis.Attacks;

/// <summary>
/// The agent exfiltrates personal data through a sanitized tool by disguising it: other digits, separators, numbers
/// instead of strings, data in keys, in headers. What reaches the tool is redacted all the same.
/// </summary>
public class RedactionAttacks
{
    private const string Policy = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: crm, namespace: fin }
        spec:
          tenant: acme
          rules:
            - name: crm
              match: { tools: ["crm.*"] }
              effect: sanitize
              redact:
                - detector: credit_card
                - detector: us_ssn
                - detector: email
                - detector: iban
                - headers: ["cookie", "x-api-key"]
                - headers: ["x-customer-note"]
                  replacement: "[REMOVED]"
        """;

    public static TheoryData<string, string, string> Disguises() => new()
    {
        { "card split by dots", """{"note": "card 4111.1111.1111.1111"}""", """{"note":"card [REDACTED:credit_card]"}""" },
        { "card in full-width digits", """{"note": "４１１１ １１１１ １１１１ １１１１"}""", """{"note":"[REDACTED:credit_card]"}""" },
        { "card with zero-width spaces", """{"note": "4111\u200b1111\u200b1111\u200b1111"}""", """{"note":"[REDACTED:credit_card]"}""" },
        { "card as a JSON number", """{"card": 4111111111111111}""", """{"card":"[REDACTED:credit_card]"}""" },
        { "SSN without dashes under an SSN key", """{"ssn": "123456789"}""", """{"ssn":"[REDACTED:us_ssn]"}""" },
        { "SSN as a number", """{"customer_ssn": 123456789}""", """{"customer_ssn":"[REDACTED:us_ssn]"}""" },
        { "email as an object key", """{"jane@example.com": {"tier": "gold"}}""", """{"[REDACTED:email]":{"tier":"gold"}}""" },
        { "IBAN in lower case with dashes", """{"iban": "de89-3704-0044-0532-0130-00"}""", """{"iban":"[REDACTED:iban]"}""" },
        { "look-alikes kept", """{"order": 1733270400000, "sku": "ORD4111111111111111", "version": "4.1.1.1"}""", """{"order":1733270400000,"sku":"ORD4111111111111111","version":"4.1.1.1"}""" },
    };

    [Theory]
    [MemberData(nameof(Disguises))]
    public async Task ToolArguments_Disguised_RedactedInTheDecision(string attack, string args, string expected)
    {
        await using var h = await Start(Policy);

        var (status, body) = await Attack.DecideAsync(h, await h.TokenAsync(), $$"""{"tool": "crm.update", "args": {{args}}}""");

        Assert.Equal(200, status);
        Assert.Equal("sanitize", body["effect"]!.ToString());
        Assert.True(expected == body["args"]!.ToJsonString(), $"{attack}: {body["args"]!.ToJsonString()}");
    }

    [Fact]
    public async Task Headers_NamedByTheRuleOrCarryingData_RemovedOrRedactedOverExtAuthz()
    {
        await using var h = await Start(Policy);
        var headers = new Dictionary<string, string>
        {
            ["cookie"] = "session=abc",
            ["x-api-key"] = "sk_live_123",
            ["x-customer-note"] = "vip",
            ["x-debug"] = "card 4111-1111-1111-1111",
            ["x-request-id"] = "req-1733270400000",
        };

        var response = await h.Client.CheckAsync(ServerFixture.Check(await h.TokenAsync(), tool: "crm.update", body: "{}", headers: headers));

        Assert.Equal(0, response.Status.Code);
        var ok = response.OkResponse;
        Assert.Contains("cookie", ok.HeadersToRemove);
        Assert.Contains("x-api-key", ok.HeadersToRemove);
        var set = ok.Headers.ToDictionary(x => x.Header.Key, x => x.Header.Value);
        Assert.Equal("[REMOVED]", set["x-customer-note"]);
        Assert.Equal("card [REDACTED:credit_card]", set["x-debug"]);
        Assert.False(set.ContainsKey("x-request-id"));
        Assert.DoesNotContain("x-request-id", ok.HeadersToRemove);
    }
}
