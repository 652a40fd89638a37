using FlyImages.Errors;
using FlyImages.Model;

namespace FlyImages.ThinPools;

/// <summary>Size rules of dm-thin pools (also applied to block-file pools, so both behave alike).</summary>
public static class ThinPoolSizing
{
    public const long MinBlockSize = 64L << 10;
    public const long MaxBlockSize = 1L << 30;
    public const long MinDataSize = 16L << 20;
    public const long MinMetadataSize = 2L << 20;

    /// <summary>dm-thin's metadata device limit is about 15.8 GiB; more is never used.</summary>
    public const long MaxMetadataSize = 15L << 30;

    /// <summary>Throws ThinPoolSizeInvalid unless the block size is a multiple of 64 KiB in 64 KiB..1 GiB.</summary>
    public static long ValidateBlockSize(long blockSize)
    {
        if (blockSize < MinBlockSize || blockSize > MaxBlockSize || blockSize % MinBlockSize != 0)
        {
            throw Invalid($"The block size must be a multiple of 64 KiB from 64 KiB to 1 GiB (asked: {blockSize} bytes).", blockSize);
        }

        return blockSize;
    }

    /// <summary>The data size rounded down to whole blocks; at least 16 MiB.</summary>
    public static long ValidateDataSize(long dataSize, long blockSize)
    {
        var rounded = dataSize / blockSize * blockSize;
        if (rounded < MinDataSize)
        {
            throw Invalid($"The data size must be at least {ByteSize.Format(MinDataSize)} (asked: {dataSize} bytes).", dataSize);
        }

        return rounded;
    }

    public static long ValidateMetadataSize(long metadataSize)
    {
        if (metadataSize < MinMetadataSize || metadataSize > MaxMetadataSize)
        {
            throw Invalid($"The metadata size must be from {ByteSize.Format(MinMetadataSize)} to {ByteSize.Format(MaxMetadataSize)} (asked: {metadataSize} bytes).", metadataSize);
        }

        return (metadataSize + 4095) / 4096 * 4096;
    }

    /// <summary>
    /// Metadata for a pool: 128 bytes per data block (mapping btrees with room for snapshots sharing
    /// blocks; lvm's thin_metadata_size estimates about 64) plus 4 MiB, rounded up to a MiB, 8 MiB .. 15 GiB.
    /// </summary>
    public static long MetadataSizeFor(long dataSize, long blockSize)
    {
        var blocks = dataSize / blockSize;
        var bytes = (blocks * 128) + (4L << 20);
        var mib = (bytes + (1L << 20) - 1) >> 20 << 20;
        return Math.Clamp(mib, 8L << 20, MaxMetadataSize);
    }

    /// <summary>The low-water mark (in blocks) of a new pool table: 1% of the blocks, at least 1, at most 32768.</summary>
    public static long LowWaterMark(long dataSize, long blockSize) => Math.Clamp(dataSize / blockSize / 100, 1, 32768);

    public static double ValidateFloor(double percent)
    {
        if (double.IsNaN(percent) || percent < 0 || percent >= 100)
        {
            throw Invalid($"The free-space floor must be a percentage from 0 to below 100 (asked: {percent}).", percent);
        }

        return percent;
    }

    private static FlyException Invalid(string message, object target) => new(ErrorIds.ThinPoolSizeInvalid, FlyErrorCategory.InvalidArgument, message, target);
}
