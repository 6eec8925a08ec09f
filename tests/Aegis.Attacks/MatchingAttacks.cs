using System.Net;
using System.Net.Http.Headers;
using Aegis.Decision.Api;
using Aegis.Policy.Matching;
using Aegis.Decision.Tests;
using static Aegis.Attacks.Attack;

namespace Aegis.Attacks;

/// <summary>
/// The agent picks the URL: a path that reaches /admin through /v1/.., a host in another case or with a trailing
/// dot, user-info, encodings. Rules match what the request really addresses, or the request is denied.
/// </summary>
public class MatchingAttacks
{
    // "lax" may go anywhere but admin paths and evil.example; "strict" only to /v1/* on api.stripe.com.
    private const string Policies = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: lax, namespace: fin }
        spec:
          tenant: acme
          agents: ["lax-*"]
          defaultEffect: allow
          rules:
            - { name: no-admin, match: { egress: { hosts: ["api.stripe.com"], paths: ["/admin*"] } }, effect: deny }
            - { name: no-evil, match: { egress: { hosts: ["evil.example"] } }, effect: deny }
        ---
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: strict, namespace: fin }
        spec:
          tenant: acme
          agents: ["strict-*"]
          rules:
            - { name: v1, match: { egress: { hosts: ["api.stripe.com:443"], paths: ["/v1/*"] } }, effect: allow }
        """;

    public static TheoryData<string, string, string, string, string> Tricks() => new()
    {
        { "dot-dot out of an allowed prefix", "strict-bot", "api.stripe.com:443", "/v1/../admin", "default_effect" },
        { "encoded dot-dot", "strict-bot", "api.stripe.com:443", "/v1/%2e%2e/admin", "default_effect" },
        { "dot-dot into a denied prefix", "lax-bot", "api.stripe.com", "/v1/../admin/users", "rule_matched" },
        { "encoded dot-dot into a denied prefix", "lax-bot", "api.stripe.com", "/x/%2E%2E/admin", "rule_matched" },
        { "double slash", "lax-bot", "api.stripe.com", "//admin", "rule_matched" },
        { "upper case and a trailing dot around a denied host", "lax-bot", "EVIL.Example.", "/", "rule_matched" },
        { "trailing dot with a port", "lax-bot", "evil.example.:443", "/", "rule_matched" },
        { "user-info naming an allowed host", "lax-bot", "api.stripe.com@evil.example", "/", EgressRejection.HostInvalid },
        { "malformed escape", "lax-bot", "api.stripe.com", "/v1/%zz/../../admin", EgressRejection.PathInvalid },
        { "backslash segments", "lax-bot", "api.stripe.com", "/v1\\..\\admin", EgressRejection.PathInvalid },
        { "another port than the rule's", "strict-bot", "api.stripe.com:8443", "/v1/x", "default_effect" },
    };

    [Theory]
    [MemberData(nameof(Tricks))]
    public async Task Egress_PathAndHostTricks_DeniedOverExtAuthz(string attack, string agent, string host, string path, string reason)
    {
        await using var h = await Start(Policies);

        var response = await h.Client.CheckAsync(ServerFixture.Check(await h.TokenAsync(agent), host: host, path: path));

        Assert.True((7, reason) == (response.Status.Code, response.Status.Message), $"{attack}: {response.Status.Code} {response.Status.Message}");
    }

    [Fact]
    public async Task Egress_TheSameDestinationWrittenNormally_StillAllowed()
    {
        await using var h = await Start(Policies);

        var response = await h.Client.CheckAsync(ServerFixture.Check(await h.TokenAsync("strict-bot"), host: "API.Stripe.COM.:443", path: "/v1//transfers?x=/admin"));

        Assert.Equal(0, response.Status.Code);
    }

    [Theory]
    [InlineData("/v1/decide")]
    [InlineData("/v1/spend")]
    public async Task Body_ChunkedOverTheCap_Refused413(string endpoint)
    {
        // /v1/spend reads a body only for the trusted meter (an agent's token is refused before any byte is read).
        const string Meter = "meter-secret-0123456789abcdef";
        await using var h = await ServerFixture.StartAsync(Policies + "\n" + Attack.ToolServers, meterSecret: Meter);
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ChunkedJson(DecisionApi.MaxBodyBytes + 1024) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", endpoint == "/v1/spend" ? Meter : await h.TokenAsync("lax-bot"));

        using var response = await h.Http.SendAsync(request);

        Assert.Null(request.Content.Headers.ContentLength);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains(DecisionApi.BodyTooLarge, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    /// <summary>A JSON body streamed without Content-Length (chunked), larger than <c>size</c> bytes.</summary>
    private sealed class ChunkedJson(int size) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync("{\"tool\":\"x\",\"args\":{\"pad\":\""u8.ToArray());
            var chunk = new byte[16 * 1024];
            Array.Fill(chunk, (byte)'a');
            for (var written = 0; written < size; written += chunk.Length)
            {
                await stream.WriteAsync(chunk);
            }

            await stream.WriteAsync("\"}}"u8.ToArray());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
