using Aegis.Operator.Keys;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Keys;

public class SigningKeyRingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly KeyRotationOptions Options = new()
    {
        RotationInterval = TimeSpan.FromHours(1),
        PrePublication = TimeSpan.FromMinutes(1),
        Retention = TimeSpan.FromMinutes(16),
        RefreshInterval = TimeSpan.FromHours(1),
    };

    [Fact]
    public void Plan_Timeline_NewKeyPublishedBeforeItSignsAndOldKeyKeptForTheRetention()
    {
        var first = Assert.Single(SigningKeyRing.Plan([], T0, Options));
        Assert.Equal(T0, first.ActiveFrom);

        // Not due yet: nothing changes.
        Assert.Equal([first], SigningKeyRing.Plan([first], T0 + TimeSpan.FromMinutes(59), Options));

        var due = T0 + TimeSpan.FromHours(1);
        var rotated = SigningKeyRing.Plan([first], due, Options);
        Assert.Equal(2, rotated.Count);
        var next = rotated[1];
        Assert.Equal(due + Options.PrePublication, next.ActiveFrom);
        Assert.Equal(next.ActiveFrom + Options.Retention, rotated[0].RetireAt);

        // A pending successor stops further rotation; the old key goes only after its retention.
        Assert.Equal(rotated, SigningKeyRing.Plan(rotated, due + TimeSpan.FromSeconds(30), Options));
        Assert.Equal(rotated, SigningKeyRing.Plan(rotated, rotated[0].RetireAt!.Value - TimeSpan.FromSeconds(1), Options));
        Assert.Equal([next], SigningKeyRing.Plan(rotated, rotated[0].RetireAt!.Value, Options));
    }

    [Fact]
    public void Validate_RetentionShorterThanATokenLifetime_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => (Options with { Retention = TimeSpan.FromMinutes(5) }).Validate());
        Assert.Contains("retention", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadOrCreateAsync_NoSecret_CreatesItWithOneActiveKeyThatOtherReplicasShare()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var time = new ManualTime(T0);

        using var ring = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);
        using var replica = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);

        Assert.Single(api.Objects("", "secrets", "aegis-system"));
        Assert.Equal(ring.KeyId, replica.KeyId);
        Assert.Equal(ring.KeyId, Assert.Single(ring.PublishedKeys.Keys).Kid);
    }

    [Fact]
    public async Task RefreshAsync_DueButNotLeader_DoesNotRotate()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var time = new ManualTime(T0);
        using var ring = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);
        time.Now += TimeSpan.FromHours(2);

        await ring.RefreshAsync(leader: false, TestContext.Current.CancellationToken);
        Assert.Single(ring.Keys);

        await ring.RefreshAsync(leader: true, TestContext.Current.CancellationToken);
        Assert.Equal(2, ring.Keys.Count);
    }
}
