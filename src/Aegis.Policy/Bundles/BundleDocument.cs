using Aegis.Contracts.Bundles;

namespace Aegis.Policy.Bundles;

/// <summary>File names and limits of the bundle archive (the format itself is <see cref="BundleFormat"/>).</summary>
public static class BundleLayout
{
    public const string Root = BundleFormat.Root;
    public const string Manifest = BundleFormat.Manifest;
    public const string Data = BundleFormat.Data;
    public const string Signatures = BundleFormat.Signatures;

    /// <summary>No bundle may hold more than this, all files together (a decision server must not be made to inflate a bomb).</summary>
    public const int MaxFileBytes = 64 * 1024 * 1024;

    /// <summary>The most bytes a bundle archive (gzipped) may be, however it arrives.</summary>
    public const int MaxArchiveBytes = 16 * 1024 * 1024;

    /// <summary>The most tar entries a bundle may have (it needs three).</summary>
    public const int MaxEntries = 16;
}
