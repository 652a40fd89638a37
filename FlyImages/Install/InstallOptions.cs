using FlyImages.Content;
using FlyImages.Unpacking;

namespace FlyImages.Install;

/// <summary>How Install-FlyImage puts an image onto the host.</summary>
public sealed record InstallOptions
{
    /// <summary>Virtual size of each layer chain's thin device (allocation is thin: only written blocks use space).
    /// 4 GiB holds the largest public image (node, ~1 GB unpacked) with room.</summary>
    public long DeviceSize { get; init; } = 4L << 30;

    /// <summary>Re-verify blobs by re-hashing and run even when the image is Ready (or Rejected).</summary>
    public bool Force { get; init; }

    /// <summary>Limits for each layer (defaults: <see cref="UnpackLimits"/>).</summary>
    public UnpackLimits? Limits { get; init; }

    /// <summary>How blobs are fetched: the same knobs and defaults as Save-FlyImage's (<see cref="FetchOptions.LayerConcurrency"/>
    /// blobs at once, in layer order, so the layer the unpacker needs next starts first).</summary>
    public FetchOptions Fetch { get; init; } = FetchOptions.Default;

    /// <summary>
    /// Whether a layer is measured against the pool's room before it is written (default true). Tests turn
    /// it off to prove that a layer whose size is not known ahead still cannot yield a Ready image.
    /// </summary>
    internal bool RefuseEarly { get; init; } = true;

    /// <summary>
    /// How long a listing stays fresh enough for the Resolving step to reuse it (an image piped from Get-FlyImage
    /// carries when it was listed) instead of listing the image's prefix again. Default 2 minutes; zero always lists.
    /// A layer changed since is still noticed: its ETag and size are checked when it is read.
    /// </summary>
    public TimeSpan ListingReuse { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Whether a layer is applied while its blob downloads (default true): onto a device of its own, from the bytes as they
    /// land, adopted as the layer's chain only once the blob is verified, otherwise thrown away and the layer applied
    /// again from the verified blob.
    /// </summary>
    public bool StreamApply { get; init; } = true;

    public static InstallOptions Default { get; } = new();
}
