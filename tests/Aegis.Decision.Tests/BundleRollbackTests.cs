using Aegis.Decision.Bundles;
using Aegis.Policy.Bundles;
using Aegis.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Decision.Tests;

/// <summary>A decision server never goes back: older, reused or unsequenced bundles are refused and the held one stays.</summary>
public class BundleRollbackTests
{
    private const string Allow = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: fin }
        spec: { tenant: acme, rules: [{ name: r, match: { tools: ["x"] }, effect: allow }] }
        """;

    private static BundleStore Store() => new(() => TestKeys.Jwks, TimeProvider.System, NullLogger<BundleStore>.Instance);

    private static Task<byte[]> BundleAsync(long sequence, string effect = "allow") =>
        BundleArchive.SignAndPackAsync(BundleCompiler.Compile("acme", PolicyFixtures.LoadValid(Allow.Replace("allow", effect, StringComparison.Ordinal)).Objects).WithSequence(sequence), TestKeys.Signer);

    [Fact]
    public async Task Offer_HigherSequence_IsSwappedIn()
    {
        var store = Store();
        store.Offer("acme", await BundleAsync(5, "deny"), "test");

        var offer = store.Offer("acme", await BundleAsync(6), "test");

        Assert.True(offer.Changed);
        Assert.Equal(6, store.Get("acme")!.Sequence);
    }

    public static TheoryData<string, long, long> Rollbacks => new()
    {
        { "an older, validly signed bundle", 9, 5 },
        { "other content reusing the held sequence", 9, 9 },
        { "an unsequenced bundle after a sequenced one", 9, 0 },
    };

    [Theory]
    [MemberData(nameof(Rollbacks))]
    public async Task Offer_NotAfterTheHeldSequence_RefusedAsRollbackAndTheHeldBundleStays(string what, long held, long offered)
    {
        var store = Store();
        store.Offer("acme", await BundleAsync(held, "deny"), "test");
        var kept = store.Get("acme")!.Revision;

        var offer = store.Offer("acme", await BundleAsync(offered), "replay");

        Assert.False(offer.Accepted, what);
        Assert.Equal(BundleRejection.Rollback, offer.Reason);
        Assert.Equal(kept, store.Get("acme")!.Revision);
        Assert.Equal(1, store.Refusals[BundleRejection.Rollback]);
    }

    [Fact]
    public async Task Offer_SameRevisionAgain_IsNotARollback()
    {
        var store = Store();
        var bundle = await BundleAsync(7);
        store.Offer("acme", bundle, "test");

        var again = store.Offer("acme", bundle, "test");

        Assert.True(again.Accepted);
        Assert.False(again.Changed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Poll_BodyOverTheLimit_RefusedAsTooLargeWhetherOrNotItDeclaresItsLength(bool declared)
    {
        var app = LoopbackPorts.CreateApp();
        app.MapGet("/bundles/{tenant}", async (HttpResponse response) =>
        {
            // Chunked (no Content-Length) unless declared: the reader must count what arrives either way.
            if (declared)
            {
                response.ContentLength = BundleLayout.MaxArchiveBytes + 1L;
            }

            var chunk = new byte[1 << 20];
            for (var sent = 0L; sent <= BundleLayout.MaxArchiveBytes; sent += chunk.Length)
            {
                await response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, BundleLayout.MaxArchiveBytes + 1L - sent)));
            }
        });
        await app.StartAsync();
        await using var _ = app;
        var store = Store();
        using var http = new HttpClient();
        var source = new HttpBundleSource(LoopbackPorts.BaseUrl(app) + "/bundles/{tenant}", ["acme"], store, http, TimeSpan.FromMinutes(1), NullLogger<HttpBundleSource>.Instance);

        await source.PollOnceAsync();

        Assert.Equal(1, store.Refusals[BundleRejection.TooLarge]);
        Assert.Null(store.Get("acme"));
    }
}
