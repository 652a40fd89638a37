using FlyImages.Errors;
using FlyImages.Processes;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools.BlockFile;

/// <summary>
/// The filesystem of its own a block-file pool may keep its device images on: XFS with reflink=1 in one
/// sparse file (<c>pools/&lt;pool&gt;/data.img</c>) on a loop device, mounted (nosuid, nodev, noatime, discard) on the
/// pool's devices folder. Snapshots are then FICLONE reflinks that share blocks, on any host
/// filesystem. After a reboot <see cref="EnsureMountedAsync"/> attaches and mounts it again. Its loop
/// device does direct I/O on the sparse file: what XFS writes is not cached again as the file's pages.
/// </summary>
internal static class PoolFilesystem
{
    /// <summary>XFS refuses filesystems under 300 MB.</summary>
    private const long MinimumFileSize = 300L << 20;

    /// <summary>
    /// The file in the pool's filesystem that holds the room beyond the pool's data size (XFS cannot be
    /// smaller than 300 MB, and its log and reservations are only known once it is made): fallocated, so
    /// it takes no space in the sparse file on the host, only in the pool's own free-space count.
    /// </summary>
    public const string ReserveFileName = ".pool-reserve";

    /// <summary>
    /// Makes the file (new, sparse, 0600; room for <paramref name="dataSize"/> plus the filesystem's own
    /// log and reservations, at least XFS's minimum), attaches it, makes XFS with reflink and mounts it on
    /// <paramref name="mountPoint"/>; then holds whatever room the filesystem has beyond
    /// <paramref name="dataSize"/> in <see cref="ReserveFileName"/>, so the pool's devices can never use
    /// more than the size asked for. Returns what the filesystem has in use now (its overhead and the
    /// reserve: not the pool's data) and the room left for devices (the pool's real data size).
    /// </summary>
    public static async Task<(long Overhead, long Capacity)> CreateAsync(string image, long dataSize, string mountPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using (var file = ThinPoolLayout.CreateNewPrivateFile(image))
        {
            file.SetLength(Math.Max(MinimumFileSize, dataSize + (dataSize / 10) + (64L << 20)));
        }

        var loop = await LoopDevices.FindOrAttachAsync(image, timeout, cancellationToken, directIo: true).ConfigureAwait(false);
        // -m reflink=1: shared extents; -K: no discard (the file is sparse already)
        var result = await ProcessRunner.RunAsync("mkfs.xfs", ["-q", "-f", "-K", "-m", "reflink=1", loop.Path], timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new FlyException(ErrorIds.FormatFailed, FlyErrorCategory.DeviceError,
                $"'{result.CommandText}' failed (exit {result.ExitCode}): {(result.StandardError + result.StandardOutput).Trim()}", image);
        }

        ThinPoolLayout.CreatePrivateDirectory(mountPoint);
        Mount(loop.Path, mountPoint);
        var capacity = Reserve(mountPoint, dataSize);
        return (UsedBytes(mountPoint), capacity);
    }

    /// <summary>
    /// Sizes the reserve file so the filesystem has <paramref name="dataSize"/> available (a few rounds:
    /// the reserve's own extent records take room too); returns what it has available then.
    /// </summary>
    internal static long Reserve(string mountPoint, long dataSize)
    {
        var path = Path.Combine(mountPoint, ReserveFileName);
        long reserved = 0;
        for (var round = 0; round < 4; round++)
        {
            var excess = (Available(mountPoint) - dataSize) / 4096 * 4096;
            var wanted = Math.Max(0, reserved + excess);
            if (excess == 0 || (excess < 0 && reserved == 0) || wanted == reserved)
            {
                break;
            }

            File.Delete(path);
            if (wanted > 0)
            {
                // PreallocationSize: fallocate(2) - blocks reserved in the pool's filesystem, nothing written to the host file
                using var reserve = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew, Access = FileAccess.Write, PreallocationSize = wanted,
                });
            }

            reserved = wanted;
            Commit(mountPoint);
        }

        return Available(mountPoint);
    }

    private static long Available(string mountPoint)
    {
        if (P.Statvfs(mountPoint, out var fs) != 0)
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"statvfs '{mountPoint}' failed: {P.Describe(P.LastError)}.", mountPoint);
        }

        return (long)(fs.BlocksAvailable * fs.FragmentSize);
    }

    /// <summary>What the filesystem mounted on <paramref name="mountPoint"/> has in use (shared extents once).</summary>
    public static long UsedBytes(string mountPoint)
    {
        if (P.Statvfs(mountPoint, out var fs) != 0)
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"statvfs '{mountPoint}' failed: {P.Describe(P.LastError)}.", mountPoint);
        }

        return UsedBytes(fs);
    }

    /// <summary>What a filesystem's statvfs figures say it has in use.</summary>
    public static long UsedBytes(in P.StatVfs fs) => (long)((fs.Blocks - fs.BlocksFree) * fs.FragmentSize);

    /// <summary>
    /// Commits the filesystem on <paramref name="mountPoint"/> (syncfs, a log force for XFS): the blocks a
    /// delete freed are discarded, and so punched out of the sparse file, when the log commits, not up to
    /// 30 s later.
    /// </summary>
    public static void Commit(string mountPoint)
    {
        var fd = P.Open(mountPoint, Native.Libc.O_RDONLY | Native.Libc.O_CLOEXEC, 0);
        if (fd >= 0)
        {
            _ = P.Syncfs(fd);
            P.Close(fd);
        }
    }

    /// <summary>Whether the pool's filesystem is mounted on <paramref name="mountPoint"/> (from the loop device of <paramref name="image"/>).</summary>
    public static bool IsMounted(string image, string mountPoint)
    {
        var canonical = P.RealPath(mountPoint) ?? mountPoint;
        return LoopDevices.FindByBackingFile(image).Select(l => LoopDevices.DeviceNumber(l.Name)).OfType<(int Major, int Minor)>()
            .Any(dev => MountTable.OfDevice(dev.Major, dev.Minor).Any(m => m.MountPoint == canonical));
    }

    /// <summary>Attaches and mounts the filesystem when it is not (after a reboot); nothing to do when it is.</summary>
    public static async Task EnsureMountedAsync(string image, string mountPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (IsMounted(image, mountPoint))
        {
            return;
        }

        if (!File.Exists(image))
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"The filesystem image '{image}' of the pool is missing.", image);
        }

        var loop = await LoopDevices.FindOrAttachAsync(image, timeout, cancellationToken, directIo: true).ConfigureAwait(false);
        ThinPoolLayout.CreatePrivateDirectory(mountPoint);
        if (Directory.EnumerateFileSystemEntries(mountPoint).Any())
        {
            // never hide files under the mount: they would be device images written while it was not mounted
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.InvalidOperation,
                $"The pool's filesystem is not mounted, but its mount point '{mountPoint}' is not empty; refusing to mount over it.", mountPoint);
        }

        Mount(loop.Path, mountPoint);
    }

    /// <summary>Unmounts the filesystem and detaches its loop device (device loops must be detached first); gone already is fine.</summary>
    public static async Task UnmountAsync(string image, string mountPoint, CancellationToken cancellationToken)
    {
        if (IsMounted(image, mountPoint) && P.Umount2(mountPoint, 0) != 0)
        {
            var errno = P.LastError;
            throw new FlyException(ErrorIds.UnmountFailed, errno == P.EBUSY ? FlyErrorCategory.ResourceBusy : FlyErrorCategory.DeviceError,
                $"Unmounting the pool's filesystem '{mountPoint}' failed: {P.Describe(errno)}.", mountPoint);
        }

        foreach (var loop in LoopDevices.FindByBackingFile(image))
        {
            await LoopDevices.DetachAsync(loop, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Why a pool filesystem cannot be made on this machine (no mkfs.xfs, no XFS in the kernel), or null when it can.</summary>
    public static string? Unavailable()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
        if (!path.Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "mkfs.xfs"))))
        {
            return "mkfs.xfs (xfsprogs) is not installed";
        }

        var loaded = File.Exists("/proc/filesystems") && File.ReadLines("/proc/filesystems").Any(l => l.Trim() == "xfs");
        return loaded || HasXfsModule() ? null : "the kernel has no XFS";
    }

    private static bool HasXfsModule()
    {
        try
        {
            var release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
            return Directory.Exists(Path.Combine("/lib/modules", release, "kernel", "fs", "xfs"));
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Whether the filesystem holding <paramref name="folder"/> can reflink (FICLONE between two scratch files).</summary>
    public static bool SupportsReflink(string folder)
    {
        var a = Path.Combine(folder, $".reflink-probe-{Guid.NewGuid():N}");
        var b = a + "-clone";
        try
        {
            using var source = ThinPoolLayout.CreateNewPrivateFile(a);
            source.Write(new byte[4096]);
            source.Flush();
            using var clone = ThinPoolLayout.CreateNewPrivateFile(b);
            return P.Ioctl((int)clone.SafeFileHandle.DangerousGetHandle(), P.FICLONE, (int)source.SafeFileHandle.DangerousGetHandle()) == 0;
        }
        catch (IOException)
        {
            return false;
        }
        finally
        {
            File.Delete(a);
            File.Delete(b);
        }
    }

    private static void Mount(string loopPath, string mountPoint)
    {
        // discard: blocks XFS frees are punched out of the sparse file, so deleted devices give their space back to the host
        if (P.Mount(loopPath, mountPoint, "xfs", P.MS_NOSUID | P.MS_NODEV | P.MS_NOATIME, "discard") != 0)
        {
            var errno = P.LastError;
            throw new FlyException(ErrorIds.MountFailed, errno == P.EBUSY ? FlyErrorCategory.ResourceBusy : FlyErrorCategory.DeviceError,
                $"Mounting the pool's filesystem ('{loopPath}', xfs) on '{mountPoint}' failed: {P.Describe(errno)}.", mountPoint)
            {
                RecommendedAction = errno == P.ENODEV ? "This kernel has no XFS (modprobe xfs), so the pool cannot use its own filesystem." : null,
            };
        }
    }
}
