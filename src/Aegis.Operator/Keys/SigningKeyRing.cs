using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aegis.Policy.Signing;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Keys;

/// <summary>One key in the ring, as stored in the Secret.</summary>
public sealed record StoredSigningKey(
    [property: JsonPropertyName("kid")] string Kid,
    [property: JsonPropertyName("privateKeyPem")] string PrivateKeyPem,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("activeFrom")] DateTimeOffset ActiveFrom,
    [property: JsonPropertyName("retireAt")] DateTimeOffset? RetireAt);

/// <summary>
/// The operator's local Ed25519 keys of one purpose, kept in a Secret of their own
/// (<see cref="KeyRotationOptions.SecretFor"/>) and rotated: a new key is published for
/// <see cref="KeyRotationOptions.PrePublication"/> before it signs, and a replaced key stays published for
/// <see cref="KeyRotationOptions.Retention"/> after its successor starts. Every replica reads the Secret; only the
/// leader writes it. One ring per purpose, so bundles and tokens never share a key and rotate independently.
/// </summary>
public sealed partial class SigningKeyRing : IRotatingSigner, IPublishedKeys, IDisposable
{
    /// <summary>The data key inside the Secret.</summary>
    public const string DataKey = "keys.json";

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly IKubernetes _client;
    private readonly string _namespace;
    private readonly KeyRotationOptions _options;
    private readonly string _secretName;
    private readonly string _purposeName;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LocalEd25519Signer> _signers = new(StringComparer.Ordinal);
    private IReadOnlyList<StoredSigningKey> _keys = [];
    private string? _lastCurrent;

    private SigningKeyRing(IKubernetes client, string ns, KeyPurpose purpose, KeyRotationOptions options, TimeProvider time, ILogger logger)
    {
        _client = client;
        _namespace = ns;
        Purpose = purpose;
        _options = options;
        _secretName = options.SecretFor(purpose);
        _purposeName = purpose.Name();
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised (from the refresh loop) when a different key starts signing: bundles must be re-signed.</summary>
    public event Action? CurrentChanged;

    public KeyPurpose Purpose { get; }

    /// <summary>The keys as last read from the Secret.</summary>
    public IReadOnlyList<StoredSigningKey> Keys => Volatile.Read(ref _keys);

    public ISigner Current
    {
        get
        {
            var now = _time.GetUtcNow();
            StoredSigningKey? current = null;
            foreach (var key in Keys)
            {
                if (key.ActiveFrom <= now && (current is null || key.ActiveFrom > current.ActiveFrom))
                {
                    current = key;
                }
            }

            // LoadOrCreate guarantees one key is active; only a Secret edited by hand could break that.
            return current is null
                ? throw new InvalidOperationException($"Secret {_namespace}/{_options.SecretName} holds no key that is active yet")
                : SignerFor(current);
        }
    }

    public string KeyId => Current.KeyId;

    public string Algorithm => "EdDSA";

    public JsonWebKeySet PublishedKeys
    {
        get
        {
            var now = _time.GetUtcNow();
            return new([.. Keys.Where(k => k.RetireAt is null || k.RetireAt > now).OrderBy(k => k.ActiveFrom).Select(k => SignerFor(k).PublicJwk)]);
        }
    }

    /// <summary>
    /// Reads the <paramref name="purpose"/> ring from its Secret, creating the Secret with a first key (active at once)
    /// when there is none. The bundle ring adopts the keys of the single-ring Secret of earlier versions
    /// (<see cref="KeyRotationOptions.SecretName"/> itself), so published bundles keep verifying across the upgrade.
    /// </summary>
    public static async Task<SigningKeyRing> LoadOrCreateAsync(IKubernetes client, string ns, KeyPurpose purpose, KeyRotationOptions options, TimeProvider time, ILogger<SigningKeyRing> logger, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var ring = new SigningKeyRing(client, ns, purpose, options, time, logger);
        var secret = await ring.ReadAsync(ring._secretName, cancellationToken).ConfigureAwait(false);
        if (secret is null)
        {
            var legacy = purpose == KeyPurpose.Bundle ? await ring.ReadAsync(options.SecretName, cancellationToken).ConfigureAwait(false) : null;
            var keys = legacy is null ? Plan([], time.GetUtcNow(), options) : ring.Parse(legacy, options.SecretName);
            try
            {
                await client.CoreV1.CreateNamespacedSecretAsync(ring.ToSecret(keys, null), ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                LogCreated(logger, ns, ring._secretName, ring._purposeName, keys[0].Kid, legacy is null ? "a new key" : $"the keys of {options.SecretName}");
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // Another replica created it first: use theirs.
            }

            secret = await ring.ReadAsync(ring._secretName, cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException($"Secret {ns}/{ring._secretName} vanished right after it was created");
        }

        ring.Load(secret);
        ring._lastCurrent = ring.Current.KeyId;
        return ring;
    }

    /// <summary>
    /// The ring after one step of the timeline at <paramref name="now"/>: a first key when empty; a successor
    /// (active after the pre-publication delay) when the current key is due and none is pending; keys past their
    /// retirement dropped. Pure, so the timeline is tested without a cluster.
    /// </summary>
    public static IReadOnlyList<StoredSigningKey> Plan(IReadOnlyList<StoredSigningKey> keys, DateTimeOffset now, KeyRotationOptions options)
    {
        var result = keys.Where(k => k.RetireAt is null || k.RetireAt > now).ToList();
        if (result.Count == 0)
        {
            return [NewKey(now, now)];
        }

        var active = result.Where(k => k.ActiveFrom <= now).MaxBy(k => k.ActiveFrom);
        var pending = result.Any(k => k.ActiveFrom > now);
        if (active is not null && !pending && active.CreatedAt + options.RotationInterval <= now)
        {
            var next = NewKey(now, now + options.PrePublication);

            // Every older key that has no retirement yet retires once the successor has signed for the retention.
            for (var i = 0; i < result.Count; i++)
            {
                if (result[i].RetireAt is null)
                {
                    result[i] = result[i] with { RetireAt = next.ActiveFrom + options.Retention };
                }
            }

            result.Add(next);
        }

        return result;
    }

    /// <summary>Re-reads the Secret; the leader also applies <see cref="Plan"/> and writes the result back.</summary>
    public async Task RefreshAsync(bool leader, CancellationToken cancellationToken = default)
    {
        var secret = await ReadAsync(_secretName, cancellationToken).ConfigureAwait(false);
        if (secret is null)
        {
            LogMissing(_logger, _namespace, _secretName);
            return;
        }

        Load(secret);
        if (leader)
        {
            var planned = Plan(Keys, _time.GetUtcNow(), _options);
            if (!planned.SequenceEqual(Keys))
            {
                try
                {
                    var written = await _client.CoreV1.ReplaceNamespacedSecretAsync(ToSecret(planned, secret.Metadata.ResourceVersion), _secretName, _namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
                    foreach (var added in planned.Where(p => !Keys.Any(k => k.Kid == p.Kid)))
                    {
                        LogPublished(_logger, _purposeName, added.Kid, added.ActiveFrom);
                    }

                    Load(written);
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
                {
                    // Someone else wrote in between (an old leader, a person): the next refresh plans on their version.
                }
            }
        }

        var current = Current.KeyId;
        if (current != _lastCurrent)
        {
            _lastCurrent = current;
            LogSwitched(_logger, current, _purposeName);
            CurrentChanged?.Invoke();
        }
    }

    /// <summary>Refreshes every <see cref="KeyRotationOptions.RefreshInterval"/> until cancelled; failures are logged and retried.</summary>
    public async Task RunAsync(Func<bool> isLeader, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.RefreshInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await RefreshAsync(isLeader(), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or FormatException or JsonException or InvalidOperationException)
            {
                LogRefreshFailed(_logger, e.Message);
            }
        }
    }

    public async ValueTask<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        await Current.SignAsync(data, cancellationToken).ConfigureAwait(false);

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var signer in _signers.Values)
            {
                signer.Dispose();
            }

            _signers.Clear();
        }
    }

    private static StoredSigningKey NewKey(DateTimeOffset now, DateTimeOffset activeFrom)
    {
        // A stored key has no purpose of its own: the ring (and its Secret) it lives in gives it one.
        using var signer = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        return new StoredSigningKey(signer.KeyId, signer.ExportPem(), now, activeFrom, null);
    }

    private LocalEd25519Signer SignerFor(StoredSigningKey key)
    {
        lock (_lock)
        {
            if (!_signers.TryGetValue(key.Kid, out var signer))
            {
                signer = LocalEd25519Signer.FromPem(key.PrivateKeyPem, Purpose);
                if (signer.KeyId != key.Kid)
                {
                    signer.Dispose();
                    throw new FormatException($"key {key.Kid} in Secret {_namespace}/{_secretName}: its private key has thumbprint {signer.KeyId}");
                }

                _signers[key.Kid] = signer;
            }

            return signer;
        }
    }

    private async Task<V1Secret?> ReadAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.CoreV1.ReadNamespacedSecretAsync(name, _namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private void Load(V1Secret secret)
    {
        var keys = Parse(secret, _secretName);
        foreach (var key in keys)
        {
            SignerFor(key);
        }

        Volatile.Write(ref _keys, keys);
    }

    private List<StoredSigningKey> Parse(V1Secret secret, string name)
    {
        if (secret.Data is null || !secret.Data.TryGetValue(DataKey, out var bytes))
        {
            throw new FormatException($"Secret {_namespace}/{name} has no {DataKey}");
        }

        return JsonSerializer.Deserialize<StoredKeys>(bytes, Json)?.Keys
            ?? throw new FormatException($"Secret {_namespace}/{name}: {DataKey} has no \"keys\" array");
    }

    private V1Secret ToSecret(IReadOnlyList<StoredSigningKey> keys, string? resourceVersion) => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Type = "Opaque",
        Metadata = new V1ObjectMeta
        {
            Name = _secretName,
            NamespaceProperty = _namespace,
            ResourceVersion = resourceVersion,
            Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "aegis-operator", ["aegis.dev/key-purpose"] = _purposeName },
        },
        Data = new Dictionary<string, byte[]> { [DataKey] = JsonSerializer.SerializeToUtf8Bytes(new StoredKeys([.. keys]), Json) },
    };

    private sealed record StoredKeys([property: JsonPropertyName("keys")] List<StoredSigningKey> Keys);

    [LoggerMessage(Level = LogLevel.Information, Message = "created signing-key Secret {Namespace}/{Name} for {Purpose} keys with key {Kid} ({Source})")]
    private static partial void LogCreated(ILogger logger, string @namespace, string name, string purpose, string kid, string source);

    [LoggerMessage(Level = LogLevel.Information, Message = "published {Purpose} signing key {Kid}; it starts signing at {ActiveFrom:O}")]
    private static partial void LogPublished(ILogger logger, string purpose, string kid, DateTimeOffset activeFrom);

    [LoggerMessage(Level = LogLevel.Information, Message = "signing key {Kid} now signs {Purpose}s")]
    private static partial void LogSwitched(ILogger logger, string kid, string purpose);

    [LoggerMessage(Level = LogLevel.Warning, Message = "signing-key Secret {Namespace}/{Name} is missing; keeping the keys in memory")]
    private static partial void LogMissing(ILogger logger, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "refreshing the signing keys failed: {Reason}; keeping the current keys")]
    private static partial void LogRefreshFailed(ILogger logger, string reason);
}
