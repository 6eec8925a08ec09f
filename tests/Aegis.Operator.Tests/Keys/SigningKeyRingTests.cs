using Aegis.Operator.Keys;
using Aegis.Policy.Signing;
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

        using var ring = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Token, Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);
        using var replica = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Token, Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);

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
        using var ring = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Token, Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);
        time.Now += TimeSpan.FromHours(2);

        await ring.RefreshAsync(leader: false, TestContext.Current.CancellationToken);
        Assert.Single(ring.Keys);

        await ring.RefreshAsync(leader: true, TestContext.Current.CancellationToken);
        Assert.Equal(2, ring.Keys.Count);
    }

    [Fact]
    public async Task LoadOrCreateAsync_OnePerPurpose_SeparateSecretsAndKeysThatNeverCross()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var time = new ManualTime(T0);

        using var bundles = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Bundle, Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);
        using var tokens = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Token, Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);
        using var keys = new OperatorSigningKeys(bundles, tokens);

        Assert.Equal(["aegis-signing-keys-bundle", "aegis-signing-keys-token"], api.Objects("", "secrets", "aegis-system").Select(s => s["metadata"]!["name"]!.ToString()).Order());
        Assert.NotEqual(bundles.KeyId, tokens.KeyId);
        Assert.Equal(KeyLookupStatus.Found, keys.PublishedKeys.Find(bundles.KeyId, KeyPurpose.Bundle).Status);
        Assert.Equal(KeyLookupStatus.PurposeMismatch, keys.PublishedKeys.Find(bundles.KeyId, KeyPurpose.Token).Status);
        Assert.Equal(KeyLookupStatus.PurposeMismatch, keys.PublishedKeys.Find(tokens.KeyId, KeyPurpose.Bundle).Status);

        // Rotating one purpose leaves the other alone.
        time.Now += TimeSpan.FromHours(1);
        await tokens.RefreshAsync(leader: true, TestContext.Current.CancellationToken);
        Assert.Equal(2, tokens.Keys.Count);
        Assert.Single(bundles.Keys);
        Assert.Throws<ArgumentException>(() => new OperatorSigningKeys(tokens, bundles));
    }

    [Fact]
    public async Task LoadOrCreateAsync_SingleRingSecretOfEarlierVersions_AdoptedAsTheBundleRingOnly()
    {
        await using var api = await KubernetesTestServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Url });
        var time = new ManualTime(T0);
        var legacy = SigningKeyRing.Plan([], T0, Options);
        await client.CoreV1.CreateNamespacedSecretAsync(new k8s.Models.V1Secret
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = "aegis-signing-keys" },
            Data = new Dictionary<string, byte[]> { [SigningKeyRing.DataKey] = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { keys = legacy }) },
        }, "aegis-system", cancellationToken: TestContext.Current.CancellationToken);

        using var bundles = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Bundle, Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);
        using var tokens = await SigningKeyRing.LoadOrCreateAsync(client, "aegis-system", KeyPurpose.Token, Options, time, NullLogger<SigningKeyRing>.Instance, TestContext.Current.CancellationToken);

        // Bundles signed before the upgrade keep verifying; tokens get a key the old one never was.
        Assert.Equal(legacy[0].Kid, bundles.KeyId);
        Assert.NotEqual(legacy[0].Kid, tokens.KeyId);
    }
}
