using System.Buffers.Binary;
using System.Globalization;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools;

/// <summary>
/// Whether the bytes written to an ext4 filesystem on a pool device are safely on the device: the
/// mounted filesystem is flushed (syncfs reports write-back errors) and its error count read from
/// sysfs; after the unmount the device is flushed, its buffer cache dropped and the superblock read
/// from the device (state "cleanly unmounted", no "errors" bit, no journal left to recover, error
/// count 0). Each check returns what is wrong, or null.
/// </summary>
public static class Ext4Health
{
    private const ushort StateValid = 0x0001;
    private const ushort StateError = 0x0002;
    private const uint IncompatRecover = 0x0004;

    /// <summary>Flushes the filesystem mounted on <paramref name="mountPoint"/> (on <paramref name="devicePath"/>) and reads its error count; null when both are clean.</summary>
    public static string? FlushMounted(string mountPoint, string devicePath)
    {
        var fd = P.Open(mountPoint, Native.Libc.O_RDONLY | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return $"'{mountPoint}' cannot be opened to flush it: {P.Describe(P.LastError)}";
        }

        try
        {
            if (P.Syncfs(fd) != 0)
            {
                return $"flushing the filesystem on '{devicePath}' failed: {P.Describe(P.LastError)}";
            }
        }
        finally
        {
            P.Close(fd);
        }

        return ErrorCount(devicePath) is > 0 and var count
            ? string.Create(CultureInfo.InvariantCulture, $"the filesystem on '{devicePath}' recorded {count} error(s) (/sys/fs/ext4/{KernelName(devicePath)}/errors_count)")
            : null;
    }

    /// <summary>The error count ext4 keeps for a mounted device (null when sysfs does not show it).</summary>
    public static long? ErrorCount(string devicePath)
    {
        var file = Path.Combine("/sys/fs/ext4", KernelName(devicePath), "errors_count");
        try
        {
            return long.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Checks an unmounted device: flushes it (fsync reports write errors), drops its buffer cache and
    /// reads the superblock from the device itself. Null when it says the filesystem was cleanly unmounted without errors.
    /// </summary>
    public static string? CheckUnmounted(string devicePath)
    {
        var fd = P.Open(devicePath, Native.Libc.O_RDONLY | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return $"'{devicePath}' cannot be opened to check it: {P.Describe(P.LastError)}";
        }

        try
        {
            if (P.Fsync(fd) != 0)
            {
                return $"flushing '{devicePath}' failed: {P.Describe(P.LastError)}";
            }

            if (P.Ioctl(fd, P.BLKFLSBUF, 0) != 0)
            {
                return $"dropping the buffer cache of '{devicePath}' failed: {P.Describe(P.LastError)}";
            }
        }
        finally
        {
            P.Close(fd);
        }

        var block = new byte[1024];
        try
        {
            using var device = File.OpenHandle(devicePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (RandomAccess.Read(device, block, Ext4.SuperblockOffset) != block.Length)
            {
                return $"the superblock of '{devicePath}' cannot be read in full";
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"the superblock of '{devicePath}' cannot be read: {e.Message}";
        }

        return Describe(block, devicePath);
    }

    /// <summary>What is wrong with a superblock (the 1024 bytes at offset 1024), or null when it is clean.</summary>
    public static string? Describe(ReadOnlySpan<byte> superblock, string devicePath)
    {
        if (BinaryPrimitives.ReadUInt16LittleEndian(superblock[0x38..]) != Ext4.Magic)
        {
            return $"'{devicePath}' holds no ext4 superblock";
        }

        var state = BinaryPrimitives.ReadUInt16LittleEndian(superblock[0x3A..]);
        var incompat = BinaryPrimitives.ReadUInt32LittleEndian(superblock[0x60..]);
        var errors = BinaryPrimitives.ReadUInt32LittleEndian(superblock[0x194..]);
        var problems = new List<string>();
        if ((state & StateError) != 0)
        {
            problems.Add("its state says errors were detected");
        }

        if ((state & StateValid) == 0)
        {
            problems.Add("it was not cleanly unmounted");
        }

        if ((incompat & IncompatRecover) != 0)
        {
            problems.Add("its journal still needs recovery");
        }

        if (errors > 0)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"it recorded {errors} error(s)"));
        }

        return problems.Count == 0 ? null : $"the ext4 filesystem on '{devicePath}' is damaged: {string.Join(", ", problems)}";
    }

    /// <summary>The kernel's name of a block device (loop3, dm-7): the last part of its canonical path.</summary>
    private static string KernelName(string devicePath) => Path.GetFileName(P.RealPath(devicePath) ?? devicePath);
}
