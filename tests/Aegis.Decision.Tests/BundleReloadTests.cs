using Aegis.Policy.Signing;

using Aegis.TestSupport;

namespace Aegis.Decision.Tests;

/// <summary>Hot reload from the bundle folder: new bundles swap in, bad ones are refused and the last good one serves.</summary>
public class BundleReloadTests
{
    private static readonly string Denying = ServerFixture.Policies.Replace("when: \"args.amount <= 5000.0\", effect: allow", "when: \"args.amount <= 5000.0\", effect: deny", StringComparison.Ordinal);

    [Fact]
    public async Task NewBundleInTheFolder_IsSwappedInAndServed()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();
        var check = ServerFixture.Check(token, "stripe.transfer", """{"amount": 1}""");
        Assert.Equal(0, (await f.Client.CheckAsync(check)).Status.Code);

        var revisions = await f.PublishAsync(Denying);
        await Eventually.TrueAsync(() => f.Server.Bundles.Get("acme")?.Revision == revisions["acme"]);

        var after = await f.Client.CheckAsync(check);
        Assert.Equal(7, after.Status.Code);
        Assert.Equal(revisions["acme"], after.DeniedResponse.Headers.Count > 0 ? f.Server.Bundles.Get("acme")!.Revision : null);
    }

    [Fact]
    public async Task BundleSignedByUnknownKey_IsRefusedAndTheLastGoodOneKeepsServing()
    {
        await using var f = await ServerFixture.StartAsync();
        var good = f.Server.Bundles.Get("acme")!.Revision;
        using var stranger = LocalEd25519Signer.Generate(KeyPurpose.Bundle);

        await f.PublishAsync(Denying, stranger);
        await Eventually.TrueAsync(() => f.Server.Bundles.Refusals.ContainsKey("bundle_unknown_kid"));

        Assert.Equal(good, f.Server.Bundles.Get("acme")!.Revision);
        var response = await f.Client.CheckAsync(ServerFixture.Check(await f.TokenAsync(), "stripe.transfer", """{"amount": 1}"""));
        Assert.Equal(0, response.Status.Code);
        Assert.Contains("aegis_bundles_refused_total{reason=\"bundle_unknown_kid\"}", await f.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CorruptBundleFile_IsRefusedAsMalformed()
    {
        await using var f = await ServerFixture.StartAsync();
        var good = f.Server.Bundles.Get("acme")!.Revision;

        File.WriteAllText(Path.Combine(f.BundleDir, "acme.tar.gz"), "garbage");
        await Eventually.TrueAsync(() => f.Server.Bundles.Refusals.ContainsKey("bundle_malformed"));

        Assert.Equal(good, f.Server.Bundles.Get("acme")!.Revision);
    }

    [Fact]
    public async Task BundleFileNamedForAnotherTenant_IsRefused()
    {
        await using var f = await ServerFixture.StartAsync();
        File.Copy(Path.Combine(f.BundleDir, "globex.tar.gz"), Path.Combine(f.BundleDir, "initech.tar.gz"));

        await Eventually.TrueAsync(() => f.Server.Bundles.Refusals.ContainsKey("bundle_tenant_mismatch"));
        Assert.Null(f.Server.Bundles.Get("initech"));
    }

    [Fact]
    public async Task SwapsUnderLoad_NoFailedRequestAndEveryRevisionExisted()
    {
        // The payments policy and the tool servers, without the budget or rate limit: every call is allowed under some revision.
        var budget = ServerFixture.Policies.IndexOf("kind: AgentBudget", StringComparison.Ordinal);
        var policyOnly = ServerFixture.Policies[..ServerFixture.Policies.LastIndexOf("---", budget, StringComparison.Ordinal)]
            + ServerFixture.Policies[ServerFixture.Policies.IndexOf("---", budget, StringComparison.Ordinal)..];
        await using var f = await ServerFixture.StartAsync(policyOnly);
        var token = await f.TokenAsync();
        var known = new HashSet<string> { f.Server.Bundles.Get("acme")!.Revision };
        var failures = 0;
        using var stop = new CancellationTokenSource();
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var r = await f.Client.CheckAsync(ServerFixture.Check(token, "stripe.transfer", """{"amount": 1}"""));
                    seen.Add(r.OkResponse?.Headers.Single(h => h.Header.Key == "x-aegis-bundle-revision").Header.Value ?? "denied:" + r.Status.Message);
                }
                catch (Grpc.Core.RpcException)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToArray();

        for (var i = 0; i < 50; i++)
        {
            // Each version allows the call, under a different revision (a new rule name changes the content).
            var yaml = policyOnly.Replace("name: llm,", $"name: llm-{i},", StringComparison.Ordinal);
            var revision = (await f.PublishAsync(yaml))["acme"];
            lock (known)
            {
                known.Add(revision);
            }

            await Eventually.TrueAsync(() => f.Server.Bundles.Get("acme")!.Revision == revision);
        }

        await stop.CancelAsync();
        await Task.WhenAll(load);

        Assert.Equal(0, failures);
        Assert.NotEmpty(seen);
        Assert.All(seen, r => Assert.True(known.Contains(r), r));
    }
}
