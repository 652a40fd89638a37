namespace FlyImages.Unpacking;

/// <summary>
/// What one layer may cost. Every limit has a safe default; exceeding one rejects the layer with
/// <see cref="Errors.ErrorIds.LayerRejectedLimit"/> and a message naming the limit.
/// </summary>
public sealed record UnpackLimits
{
    /// <summary>The defaults: generous for real images (the largest known layer is 570 MB), tight for bombs.</summary>
    public static UnpackLimits Default { get; } = new();

    /// <summary>Total bytes of file content written for one layer (default 32 GiB).</summary>
    public long MaxTotalBytes { get; init; } = 32L << 30;

    /// <summary>Size of a single regular file (default 8 GiB).</summary>
    public long MaxFileSize { get; init; } = 8L << 30;

    /// <summary>Number of archive entries, extended headers included (default 1,000,000).</summary>
    public int MaxEntries { get; init; } = 1_000_000;

    /// <summary>Length in bytes of an entry name or hard-link target (default 4095, PATH_MAX - 1).</summary>
    public int MaxPathLength { get; init; } = 4095;

    /// <summary>Number of folders an entry name goes through (default 256).</summary>
    public int MaxPathDepth { get; init; } = 256;

    /// <summary>Length in bytes of a symlink target (default 4095).</summary>
    public int MaxLinkTargetLength { get; init; } = 4095;

    /// <summary>
    /// Decompressed bytes per compressed byte (default 250; gzip peaks near 1030 on zeros, real layers
    /// are below 20). Checked once the output passes <see cref="CompressionRatioGraceBytes"/>.
    /// </summary>
    public double MaxCompressionRatio { get; init; } = 250;

    /// <summary>Decompressed bytes allowed before the ratio is checked (default 64 MiB).</summary>
    public long CompressionRatioGraceBytes { get; init; } = 64L << 20;

    /// <summary>Extended attributes on one entry (default 128).</summary>
    public int MaxXattrsPerEntry { get; init; } = 128;

    /// <summary>Size of one extended attribute value (default 64 KiB, the Linux maximum).</summary>
    public int MaxXattrValueSize { get; init; } = 64 * 1024;

    /// <summary>Size of one PAX extended header or GNU long-name record (default 1 MiB).</summary>
    public int MaxExtendedHeaderSize { get; init; } = 1 << 20;

    /// <summary>Wall time for one layer (default 1 hour).</summary>
    public TimeSpan MaxWallTime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Room the destination has for file contents (null, the default: not checked). Each regular file
    /// counts its size rounded up to 4 KiB; the entry that would pass it is refused with
    /// <see cref="Errors.ErrorIds.DestinationFull"/> before it is written. The installer sets it to the
    /// thin pool's free space above its floor.
    /// </summary>
    public long? DestinationRoomBytes { get; init; }

    /// <summary>Skipped entries listed one by one in the result (the count is always complete; default 1000).</summary>
    public int MaxSkippedListed { get; init; } = 1000;

    /// <summary>Throws <see cref="ArgumentException"/> when a limit is out of range.</summary>
    public void Validate()
    {
        if (MaxTotalBytes <= 0 || MaxFileSize <= 0 || MaxEntries <= 0 || MaxPathLength <= 0 || MaxPathDepth <= 0
            || MaxLinkTargetLength <= 0 || MaxPathLength > 4095 || MaxLinkTargetLength > 4095 || !(MaxCompressionRatio >= 1) || CompressionRatioGraceBytes < 0 || MaxXattrsPerEntry < 0
            || DestinationRoomBytes < 0 || MaxXattrValueSize < 0 || MaxExtendedHeaderSize < 512 || MaxWallTime <= TimeSpan.Zero || MaxSkippedListed < 0)
        {
            throw new ArgumentException("every unpack limit must be positive (ratio at least 1, extended header at least 512 bytes, path and link target lengths at most 4095)", nameof(UnpackLimits));
        }
    }
}
