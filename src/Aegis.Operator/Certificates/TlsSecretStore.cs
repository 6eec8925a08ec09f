using System.Net;
using System.Security.Cryptography;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Operator.Certificates;

/// <summary>
/// Reads and writes one <c>kubernetes.io/tls</c> Secret of <see cref="TlsMaterial"/>. Every write carries the
/// resourceVersion it read, so replicas racing settle on one winner and the losers read its result next round.
/// </summary>
public sealed class TlsSecretStore(IKubernetes client, string ns, string name)
{
    public string Name => name;

    /// <summary>The Secret as stored, or null when there is none.</summary>
    public async Task<V1Secret?> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>The material in <paramref name="secret"/>, or null (with the reason) when it cannot be used.</summary>
    public static TlsMaterial? Material(V1Secret? secret, out string? unreadable)
    {
        unreadable = null;
        try
        {
            return TlsMaterial.Read(secret?.Data);
        }
        catch (CryptographicException e)
        {
            unreadable = e.Message;
            return null;
        }
    }

    /// <summary>
    /// One round of <see cref="CertificateRotation"/> against the Secret: the material after at most one step, or null
    /// when another replica wrote first (the next round reads its result). <paramref name="log"/> hears what changed
    /// and why stored material was unusable.
    /// </summary>
    public async Task<TlsMaterial?> AdvanceAsync(DateTimeOffset now, RotationPolicy policy, Action<string> log, CancellationToken cancellationToken)
    {
        var secret = await ReadAsync(cancellationToken).ConfigureAwait(false);
        var material = Material(secret, out var unreadable);
        if (unreadable is not null)
        {
            log($"Secret {name} cannot be read as certificates ({unreadable}); issuing new ones");
        }

        if (CertificateRotation.Next(material, now, policy) is not { } step)
        {
            return material;
        }

        log($"issued {step.What} into Secret {name}");
        return await WriteAsync(secret, step.Next.ToData(), cancellationToken).ConfigureAwait(false) is null ? null : step.Next;
    }

    /// <summary>Runs <paramref name="round"/> until cancelled: every <paramref name="interval"/> once ready, every 2 s until then; a failed round is logged and retried.</summary>
    public static async Task RunAsync(Func<CancellationToken, Task> round, Func<bool> ready, TimeSpan interval, TimeProvider time, Action<string> logFailure, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await round(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
            {
                logFailure(e.Message);
            }

            await Task.Delay(ready() ? interval : TimeSpan.FromSeconds(Math.Min(2, interval.TotalSeconds)), time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Creates or replaces the Secret; null when another writer got there first (409).</summary>
    public async Task<V1Secret?> WriteAsync(V1Secret? current, Dictionary<string, byte[]> data, CancellationToken cancellationToken)
    {
        var secret = new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "kubernetes.io/tls",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = ns,
                ResourceVersion = current?.Metadata.ResourceVersion,
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "aegis-operator" },
            },
            Data = data,
        };
        try
        {
            return current is null
                ? await client.CoreV1.CreateNamespacedSecretAsync(secret, ns, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await client.CoreV1.ReplaceNamespacedSecretAsync(secret, name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }
    }
}
