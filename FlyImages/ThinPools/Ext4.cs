using FlyImages.Errors;
using FlyImages.Processes;

namespace FlyImages.ThinPools;

/// <summary>mkfs.ext4 for pool devices.</summary>
public static class Ext4
{
    /// <summary>
    /// The -E options: no discard (a thin device is empty already; discarding it is slow and pointless),
    /// inode tables and journal written now, not lazily by a kernel thread later (lazy init would be
    /// redone in every snapshot and eat pool space once per snapshot).
    /// </summary>
    public const string ExtendedOptions = "nodiscard,lazy_itable_init=0,lazy_journal_init=0";

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
}
