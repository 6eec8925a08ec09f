using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Aegis.Policy.Signing;

namespace Aegis.Policy.Bundles;

/// <summary>Writes and reads the gzipped-tar bundle format (OPA layout) byte-for-byte reproducibly.</summary>
public static class BundleArchive
{
    /// <summary>Signs the content (OPA's .signatures.json over the files' sha-256) and packs it.</summary>
    public static async Task<byte[]> SignAndPackAsync(BundleContent content, ISigner signer, CancellationToken cancellationToken = default)
    {
        var files = new List<KeyValuePair<string, byte[]>>
        {
            new(BundleLayout.Manifest, content.ManifestJson),
            new(BundleLayout.Data, content.DataJson),
        };
        var signatures = await SignFilesAsync(files, signer, cancellationToken).ConfigureAwait(false);
        files.Add(new(BundleLayout.Signatures, signatures));
        return Pack(files);
    }

    /// <summary>The .signatures.json for the given files: {"signatures":["&lt;compact JWS&gt;"]}.</summary>
    public static async Task<byte[]> SignFilesAsync(IEnumerable<KeyValuePair<string, byte[]>> files, ISigner signer, CancellationToken cancellationToken = default)
    {
        var payload = new Dictionary<string, object>
        {
            ["files"] = files.Select(f => new Dictionary<string, string>
            {
                ["name"] = f.Key,
                ["hash"] = FileHash(f.Key, f.Value),
                ["algorithm"] = "SHA-256",
            }).ToList(),
        };
        var jws = await CompactJws.SignAsync(JsonSerializer.SerializeToUtf8Bytes(payload), signer, cancellationToken).ConfigureAwait(false);
        return JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string[]> { ["signatures"] = [jws] });
    }

    /// <summary>OPA's file hash: JSON files over their canonical form, others over the raw bytes.</summary>
    public static string FileHash(string name, byte[] bytes)
    {
        var hashed = IsStructured(name) ? CanonicalJson.Canonicalize(bytes) : bytes;
        return Convert.ToHexStringLower(SHA256.HashData(hashed));
    }

    private static bool IsStructured(string name) => Path.GetFileName(name) is BundleLayout.Data or BundleLayout.Manifest;

    /// <summary>Tars the files in the given order with fixed metadata, then gzips without a timestamp.</summary>
    public static byte[] Pack(IEnumerable<KeyValuePair<string, byte[]>> files)
    {
        using var tarBytes = new MemoryStream();
        using (var writer = new TarWriter(tarBytes, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (name, bytes) in files)
            {
                var entry = new UstarTarEntry(TarEntryType.RegularFile, name)
                {
                    ModificationTime = DateTimeOffset.UnixEpoch,
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    Uid = 0,
                    Gid = 0,
                    UserName = "",
                    GroupName = "",
                    DataStream = new MemoryStream(bytes, writable: false),
                };
                writer.WriteEntry(entry);
            }
        }

        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            tarBytes.Position = 0;
            tarBytes.CopyTo(gzip);
        }

        var result = output.ToArray();

        // RFC 1952 header: MTIME (bytes 4-7) and OS (byte 9) are fixed so the bytes depend on content only.
        result[4] = result[5] = result[6] = result[7] = 0;
        result[9] = 255;
        return result;
    }

    /// <summary>
    /// Reads the files of a bundle archive (leading '/' stripped). Throws <see cref="BundleSizeException"/> when the
    /// archive, or what it inflates to, is over the limits (<see cref="BundleLayout"/>) however it is encoded, and
    /// <see cref="InvalidDataException"/> when it is malformed.
    /// </summary>
    public static Dictionary<string, byte[]> Unpack(byte[] archive)
    {
        if (archive.Length > BundleLayout.MaxArchiveBytes)
        {
            throw new BundleSizeException($"the bundle archive is {archive.Length:N0} bytes; at most {BundleLayout.MaxArchiveBytes:N0} are read");
        }

        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        try
        {
            using var gzip = new GZipStream(new MemoryStream(archive, writable: false), CompressionMode.Decompress);

            // Counts every inflated byte (headers, padding and skipped entries too), so no encoding gets past the limit.
            using var bounded = new BoundedStream(gzip, BundleLayout.MaxFileBytes + (BundleLayout.MaxEntries * 2L * 512) + 1024);
            using var reader = new TarReader(bounded);
            var entries = 0;
            long total = 0;
            while (reader.GetNextEntry() is { } entry)
            {
                if (++entries > BundleLayout.MaxEntries)
                {
                    throw new BundleSizeException($"the bundle has more than {BundleLayout.MaxEntries} entries");
                }

                if (entry.EntryType is TarEntryType.Directory)
                {
                    continue;
                }

                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                {
                    throw new InvalidDataException($"entry \"{entry.Name}\" is a {entry.EntryType}, only regular files are allowed");
                }

                var name = entry.Name.TrimStart('/');
                if (entry.Length > BundleLayout.MaxFileBytes || (total += entry.Length) > BundleLayout.MaxFileBytes)
                {
                    throw new BundleSizeException($"the bundle inflates to more than {BundleLayout.MaxFileBytes:N0} bytes");
                }

                using var data = new MemoryStream();
                entry.DataStream?.CopyTo(data);
                if (!files.TryAdd(name, data.ToArray()))
                {
                    throw new InvalidDataException($"entry \"{name}\" appears twice");
                }
            }
        }
        catch (Exception e) when ((e is InvalidDataException or FormatException or EndOfStreamException or IOException or NotSupportedException) && e is not BundleSizeException)
        {
            throw new InvalidDataException("not a gzipped tar bundle: " + e.Message, e);
        }

        return files;
    }

    /// <summary>A read-only stream that fails once more than a given number of bytes have been read through it.</summary>
    private sealed class BoundedStream(Stream inner, long limit) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private int Count(int read)
        {
            if ((_read += read) > limit)
            {
                throw new BundleSizeException($"the bundle inflates to more than {BundleLayout.MaxFileBytes:N0} bytes");
            }

            return read;
        }
    }
}

/// <summary>Thrown when a bundle archive, or what it inflates to, is over the size limits.</summary>
public sealed class BundleSizeException(string message) : IOException(message);
