namespace Aegis.Decision.Audit.Archive;

/// <summary>One stored segment object.</summary>
public sealed record ArchivedObject(string Key, long Size);

/// <summary>
/// Write-once storage for closed segments (S3 with Object Lock, GCS with a locked retention policy): an object is
/// created once, never overwritten, and the store refuses to delete it before its retention ends.
/// </summary>
public interface IAuditArchive
{
    /// <summary>Where objects go, for messages: s3://bucket/prefix or gs://bucket/prefix.</summary>
    string Location { get; }

    /// <summary>Object key of a segment: {prefix}{replica}/{file name}.</summary>
    string KeyFor(string replica, string fileName);

    /// <summary>
    /// Creates <paramref name="key"/> with retention until <paramref name="retainUntil"/>; returns false when an
    /// object of that key already exists (then nothing is written). Throws <see cref="AuditArchiveException"/> when
    /// the store refuses, naming why.
    /// </summary>
    Task<bool> PutOnceAsync(string key, byte[] content, DateTimeOffset retainUntil, CancellationToken cancellationToken);

    /// <summary>Every object under the prefix (and <paramref name="under"/> below it), in key order.</summary>
    Task<IReadOnlyList<ArchivedObject>> ListAsync(string under, CancellationToken cancellationToken);

    /// <summary>An object's bytes, or null when there is no such object.</summary>
    Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken);
}

/// <summary>The object store refused or garbled a request; the message names the store, the object and the reason.</summary>
public sealed class AuditArchiveException : Exception
{
    public AuditArchiveException()
    {
    }

    public AuditArchiveException(string message)
        : base(message)
    {
    }

    public AuditArchiveException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Parses archive addresses: s3://bucket/prefix and gs://bucket/prefix.</summary>
public static class ArchiveAddress
{
    /// <summary>Splits <paramref name="url"/> into scheme, bucket and prefix (ending in '/' when not empty).</summary>
    public static bool TryParse(string url, out string scheme, out string bucket, out string prefix, out string error)
    {
        scheme = bucket = prefix = "";
        error = "";
        var separator = url.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0 || url[..separator] is not ("s3" or "gs"))
        {
            error = $"\"{url}\" is not an s3://bucket/prefix or gs://bucket/prefix address";
            return false;
        }

        scheme = url[..separator];
        var rest = url[(separator + 3)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        bucket = slash < 0 ? rest : rest[..slash];
        prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (prefix.Length > 0 && !prefix.EndsWith('/'))
        {
            prefix += "/";
        }

        if (!System.Text.RegularExpressions.Regex.IsMatch(bucket, "^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$"))
        {
            error = $"\"{bucket}\" is not a bucket name";
            return false;
        }

        return true;
    }
}
