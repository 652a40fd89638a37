using System.Buffers.Binary;
using FlyImages.Errors;
using FlyImages.Processes;

namespace FlyImages.ThinPools;

/// <summary>mkfs.ext4 for pool devices, and the block size of an ext4 filesystem in an image file.</summary>
public static class Ext4
{
    /// <summary>
    /// The -E options: no discard (a thin device is empty already; discarding it is slow and pointless),
    /// inode tables and journal written now, not lazily by a kernel thread later (lazy init would be
    /// redone in every snapshot and eat pool space once per snapshot).
    /// </summary>
    public const string ExtendedOptions = "nodiscard,lazy_itable_init=0,lazy_journal_init=0";

    /// <summary>Where the superblock starts on the device (and in an image file).</summary>
    internal const int SuperblockOffset = 1024;

    /// <summary>s_magic, at 0x38 in the superblock.</summary>
    internal const ushort Magic = 0xEF53;

    /// <summary>Makes an ext4 filesystem on the block device <paramref name="devicePath"/> (never on anything else).</summary>
    public static async Task FormatAsync(string devicePath, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Native.Libc.FileType(devicePath) != Native.Libc.S_IFBLK)
        {
            throw new FlyException(ErrorIds.FormatFailed, FlyErrorCategory.InvalidArgument, $"'{devicePath}' is not a block device; refusing to format it.", devicePath);
        }

        var result = await ProcessRunner.RunAsync("mkfs.ext4", ["-q", "-F", "-E", ExtendedOptions, devicePath], timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new FlyException(ErrorIds.FormatFailed, FlyErrorCategory.DeviceError,
                $"'{result.CommandText}' failed (exit {result.ExitCode}): {(result.StandardError + result.StandardOutput).Trim()}", devicePath);
        }
    }

    /// <summary>
    /// The block size of the ext4 filesystem at the start of <paramref name="imageFile"/> (1 KiB to 64 KiB),
    /// or null when the file holds none (read from the file, not from a device; nothing is trusted beyond the range).
    /// </summary>
    public static int? BlockSizeOf(string imageFile)
    {
        Span<byte> superblock = stackalloc byte[0x40];
        try
        {
            using var file = File.OpenHandle(imageFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (RandomAccess.Read(file, superblock, SuperblockOffset) != superblock.Length)
            {
                return null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var log = BinaryPrimitives.ReadUInt32LittleEndian(superblock[0x18..]);
        return BinaryPrimitives.ReadUInt16LittleEndian(superblock[0x38..]) == Magic && log <= 6 ? 1024 << (int)log : null;
    }
}
