using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>
/// BLKDISCARD over a whole block device (the ioctl, no shell): on an active thin device it unmaps every block
/// the device holds, so the pool frees them and, with discard passdown, tells its data device, which for a loop
/// device punches the range out of the backing file. Blocks the device shares with another (a snapshot and its
/// origin) stay mapped for the other.
/// </summary>
internal static class BlockDiscard
{
    /// <summary>Discards all of <paramref name="devicePath"/>; returns its size in bytes, or throws <see cref="IOException"/> with the errno's text.</summary>
    public static unsafe long DiscardAll(string devicePath)
    {
        // O_EXCL on a block device: fails with EBUSY while it is mounted or held by another opener
        var fd = P.Open(devicePath, P.O_RDWR | Native.Libc.O_EXCL | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Failure("open", devicePath);
        }

        try
        {
            ulong size = 0;
            if (P.Ioctl(fd, P.BLKGETSIZE64, (nint)(&size)) != 0)
            {
                throw Failure("BLKGETSIZE64", devicePath);
            }

            var range = stackalloc ulong[2];
            range[0] = 0;
            range[1] = size & ~511UL;
            if (range[1] > 0 && P.Ioctl(fd, P.BLKDISCARD, (nint)range) != 0)
            {
                throw Failure("BLKDISCARD", devicePath);
            }

            return (long)range[1];
        }
        finally
        {
            P.Close(fd);
        }
    }

    /// <summary>
    /// Whether discards reach a loop-backed data device's file: the loop device takes discards
    /// (/sys/block/&lt;loop&gt;/queue/discard_max_bytes &gt; 0). Null when <paramref name="loopName"/> has no such file.
    /// </summary>
    public static bool? LoopTakesDiscards(string loopName)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine("/sys/block", loopName, "queue", "discard_max_bytes")).Trim();
            return long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var max) ? max > 0 : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static IOException Failure(string call, string devicePath)
    {
        var errno = P.LastError;
        return new IOException($"{call} on '{devicePath}' failed: {P.Describe(errno)} (errno {errno}).");
    }
}
