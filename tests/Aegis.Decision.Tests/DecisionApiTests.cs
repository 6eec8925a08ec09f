using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

using Aegis.TestSupport;

namespace Aegis.Decision.Tests;

/// <summary>POST /v1/decide, /healthz, /readyz and /metrics over real HTTP.</summary>
public class DecisionApiTests
{
    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(ServerFixture f, string json, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await f.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Decide_SameInputAsEval_ReturnsTheDecisionWithAnId()
    {
        await using var f = await ServerFixture.StartAsync();

        var (status, body) = await PostAsync(f, """{"tool":"crm.read","args":{"note":"mail bob@example.com"}}""", await f.TokenAsync());

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("sanitize", body.GetProperty("effect").GetString());
        Assert.Equal("fin/payments", body.GetProperty("policy").GetString());
        Assert.Equal("crm", body.GetProperty("rule").GetString());
        Assert.Equal("mail [REDACTED:email]", body.GetProperty("args").GetProperty("note").GetString());
        Assert.Matches("^[0-9a-f]{32}$", body.GetProperty("decisionId").GetString());
    }

    [Fact]
    public async Task Decide_TokenInBody_Accepted()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();
        var (status, body) = await PostAsync(f, $$$"""{"token":"{{{token}}}","tool":"stripe.transfer","args":{"amount":10}}""", null);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("allow", body.GetProperty("effect").GetString());
    }

    [Fact]
    public async Task Decide_BodyNamesAnotherTenantThanTheToken_Denied()
    {
        await using var f = await ServerFixture.StartAsync();
        var (_, body) = await PostAsync(f, """{"tenant":"globex","agent":{"id":"payments-bot"},"tool":"x"}""", await f.TokenAsync());
        Assert.Equal("deny", body.GetProperty("effect").GetString());
        Assert.Equal("tenant_mismatch", body.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Decide_NoToken_401()
    {
        await using var f = await ServerFixture.StartAsync();
        var (status, body) = await PostAsync(f, """{"tool":"x"}""", null);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("token_missing", body.GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData("{nope", "not valid JSON")]
    [InlineData("""{"tool":"x","cost":5}""", "cost: money must be a decimal string")]
    [InlineData("[]", "must be a JSON object")]
    public async Task Decide_BadInput_400NamingTheProblem(string json, string message)
    {
        await using var f = await ServerFixture.StartAsync();
        var (status, body) = await PostAsync(f, json, await f.TokenAsync());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(message, body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readyz_FalseUntilEveryConfiguredTenantHasABundle()
    {
        await using var f = await ServerFixture.StartAsync(publish: false, tenants: ["acme", "globex"]);
        using var before = await f.Http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
        Assert.Contains("acme, globex", await before.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await f.PublishAsync(ServerFixture.Policies);
        await Eventually.TrueAsync(() => f.Server.Bundles.HasAll(["acme", "globex"]));

        using var after = await f.Http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        using var health = await f.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Metrics_CountDecisionsAndShowBundleRevisions()
    {
        await using var f = await ServerFixture.StartAsync();
        await PostAsync(f, """{"tool":"stripe.transfer","args":{"amount":10}}""", await f.TokenAsync());
        await PostAsync(f, """{"tool":"nothing"}""", await f.TokenAsync());

        var text = await f.Http.GetStringAsync("/metrics");

        Assert.Contains("aegis_decisions_total{effect=\"allow\",reason=\"rule_matched\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("aegis_decisions_total{effect=\"deny\",reason=\"default_effect\"} 1", text, StringComparison.Ordinal);
        Assert.Contains($"aegis_bundle_info{{tenant=\"acme\",revision=\"{f.Server.Bundles.Get("acme")!.Revision}\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains("aegis_decision_duration_seconds_count 2", text, StringComparison.Ordinal);
    }

    private const string Meter = "meter-secret-of-the-orchestrator";

    private static async Task<HttpResponseMessage> SpendAsync(ServerFixture f, string body, string? bearer)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/spend") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return await f.Http.SendAsync(request);
    }

    private static async Task<string> ReservationAsync(ServerFixture f, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/decide") { Content = new StringContent("""{"tool":"openai.chat","args":{}}""", Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await f.Http.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("reservationId").GetString()!;
    }

    [Fact]
    public async Task Spend_TrustedMeter_SettlesAReservationOnceToTheActualCost()
    {
        await using var f = await ServerFixture.StartAsync(meterSecret: Meter);
        var token = await f.TokenAsync();

        // Two calls reserve 0.40 each (0.80 of 1.00); they really cost 0.10 each, so a third call fits again.
        var first = await ReservationAsync(f, token);
        var second = await ReservationAsync(f, token);
        Assert.Equal(7, (await f.Client.CheckAsync(ServerFixture.Check(token, "openai.chat", "{}"))).Status.Code);

        foreach (var reservation in new[] { first, second })
        {
            using var response = await SpendAsync(f, $$"""{"tenant":"acme","agentId":"payments-bot","reservationId":"{{reservation}}","actual":"0.10"}""", Meter);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var again = await SpendAsync(f, $$"""{"tenant":"acme","agentId":"payments-bot","reservationId":"{{first}}","actual":"0.00"}""", Meter);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("reservation_already_settled", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, (await f.Client.CheckAsync(ServerFixture.Check(token, "openai.chat", "{}"))).Status.Code);
        Assert.Contains("aegis_spend_usd_total{tenant=\"acme\",agent_id=\"payments-bot\"} 0.60", await f.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("agent token", HttpStatusCode.Unauthorized, "meter_unauthenticated")]
    [InlineData("none", HttpStatusCode.Unauthorized, "meter_unauthenticated")]
    [InlineData("meter disabled", HttpStatusCode.NotFound, "meter_disabled")]
    public async Task Spend_WithoutTheMeterCredential_RefusedAndSpendUnchanged(string variant, HttpStatusCode status, string reason)
    {
        // The attack: the agent reports its own spend back to zero with its own token, as often as it likes.
        await using var f = await ServerFixture.StartAsync(meterSecret: variant == "meter disabled" ? null : Meter);
        var token = await f.TokenAsync();
        var reservation = await ReservationAsync(f, token);

        using var response = await SpendAsync(f, $$"""{"tenant":"acme","agentId":"payments-bot","reservationId":"{{reservation}}","actual":"0.00"}""", variant == "none" ? null : token);

        Assert.Equal(status, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("aegis_spend_usd_total{tenant=\"acme\",agent_id=\"payments-bot\"} 0.40", await f.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"tenant":"acme","agentId":"payments-bot","reservationId":"r"}""", HttpStatusCode.BadRequest, "actual: is required")]
    [InlineData("""{"tenant":"acme","agentId":"payments-bot","reservationId":"r","actual":"-1"}""", HttpStatusCode.BadRequest, "actual: must not be negative")]
    [InlineData("""{"agentId":"payments-bot","reservationId":"r","actual":"0.1"}""", HttpStatusCode.BadRequest, "tenant: is required")]
    [InlineData("""{"tenant":"acme","agentId":"payments-bot","reservationId":"nope","actual":"0.1"}""", HttpStatusCode.NotFound, "reservation_unknown")]
    [InlineData("[1]", HttpStatusCode.BadRequest, "must be a JSON object")]
    public async Task Spend_BadRequests_AreRefusedWithTheReason(string body, HttpStatusCode status, string message)
    {
        await using var f = await ServerFixture.StartAsync(meterSecret: Meter);

        using var response = await SpendAsync(f, body, Meter);

        Assert.Equal(status, response.StatusCode);
        Assert.Contains(message, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
