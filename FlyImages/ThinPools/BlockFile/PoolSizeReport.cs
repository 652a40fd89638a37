using System.Globalization;
using FlyImages.Model;
using FlyImages.Operations;

namespace FlyImages.ThinPools.BlockFile;

/// <summary>Says what size a new block-file pool really got, when that is not the size asked for.</summary>
internal static class PoolSizeReport
{
    /// <summary>
    /// Makes the pool's own filesystem (<paramref name="make"/>) and returns its overhead and its real data
    /// size: the size asked for (the room beyond it is held by a reserve file), or less, said as a warning,
    /// when the filesystem could not give that much.
    /// </summary>
    public static async Task<(long Overhead, long DataSize)> OwnFilesystemAsync(string pool, long asked, IOperationContext context, Func<Task<(long Overhead, long Capacity)>> make)
    {
        var (overhead, capacity) = await make().ConfigureAwait(false);
        if (capacity < asked - Math.Max(1L << 20, asked / 100))
        {
            context.WriteWarning(string.Create(CultureInfo.InvariantCulture,
                $"Pool '{pool}': its XFS filesystem has room for {ByteSize.Format(capacity)} of device data, not the {ByteSize.Format(asked)} asked for (the filesystem's log and reservations take the rest); the pool's data size is {ByteSize.Format(capacity)}."));
        }
        else
        {
            context.WriteVerbose(string.Create(CultureInfo.InvariantCulture,
                $"Pool '{pool}': its XFS filesystem is larger than {ByteSize.Format(asked)} (XFS needs at least 300 MB, plus its log); the room beyond the pool's data size is held by '{PoolFilesystem.ReserveFileName}', so devices can use {ByteSize.Format(capacity)}."));
        }

        return (overhead, capacity);
    }
}
