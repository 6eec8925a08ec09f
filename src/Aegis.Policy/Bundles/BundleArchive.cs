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

    /// <summary>Reads the files of a bundle archive (leading '/' stripped); throws <see cref="InvalidDataException"/> when malformed.</summary>
    public static Dictionary<string, byte[]> Unpack(byte[] archive)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        try
        {
            using var gzip = new GZipStream(new MemoryStream(archive, writable: false), CompressionMode.Decompress);
            using var reader = new TarReader(gzip);
            long total = 0;
            while (reader.GetNextEntry() is { } entry)
            {
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
                    throw new InvalidDataException($"bundle is larger than {BundleLayout.MaxFileBytes} bytes");
                }

                using var data = new MemoryStream();
                entry.DataStream?.CopyTo(data);
                if (!files.TryAdd(name, data.ToArray()))
                {
                    throw new InvalidDataException($"entry \"{name}\" appears twice");
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or IOException or NotSupportedException)
        {
            throw new InvalidDataException("not a gzipped tar bundle: " + e.Message, e);
        }

        return files;
    }
}
