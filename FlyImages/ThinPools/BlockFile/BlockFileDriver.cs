using System.Globalization;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools.BlockFile;

/// <summary>
/// Thin devices as sparse image files (<c>devices/&lt;id&gt;.img</c>) attached to loop devices. A
/// snapshot is a reflink copy where the filesystem supports it, else a sparse-aware copy. The folder is
/// either plain or the mount point of the pool's own XFS (<see cref="PoolFilesystem"/>), which always reflinks. Suspending
/// an active device freezes its mounted filesystem (FIFREEZE) or flushes the loop device, so the copy
/// is consistent; resuming thaws it. Where snapshots are reflinks a device's loop does direct I/O on
/// its image (no second page cache to write back; on the pool's own XFS it would be a third, as that
/// filesystem is on a loop device too); where they are copies it stays buffered, so a copy of a layer
/// just written reads the image's pages from memory, not from the disk (measured: install-bench,
/// tests/bench/README.md).
/// </summary>
internal sealed class BlockFileDriver : IThinPoolDriver
{
    /// <summary>Below this much free space on the filesystem holding the images (or 5% of a smaller pool's size) the pool is out of data space.</summary>
    internal const long MinimumFilesystemFree = 16L << 20;

    private readonly ThinPoolRecord record;
    private readonly ThinPoolOptions options;
    private readonly Func<long> transactionId;
    private readonly string devices;
    private readonly Lazy<bool> reflinks;

    public BlockFileDriver(ThinPoolRecord record, ThinPoolOptions options, Func<long> transactionId)
    {
        this.record = record;
        this.options = options;
        this.transactionId = transactionId;
        devices = record.DataPath ?? throw new InvalidOperationException($"Block-file pool '{record.Name}' has no devices folder recorded.");
        reflinks = new Lazy<bool>(() => record.FilesystemImage is not null || PoolFilesystem.SupportsReflink(devices));
    }

    public ThinPoolBackend Backend => ThinPoolBackend.BlockFile;

    public Task<bool> IsReadyAsync(CancellationToken cancellationToken)
        => Task.FromResult(Directory.Exists(devices) && (record.FilesystemImage is not { } image || PoolFilesystem.IsMounted(image, devices)));

    public async Task EnsureReadyAsync(IOperationContext context)
    {
        if (record.FilesystemImage is { } image)
        {
            await PoolFilesystem.EnsureMountedAsync(image, devices, options.CommandTimeout, context.CancellationToken).ConfigureAwait(false);
        }
        else
        {
            ThinPoolLayout.CreatePrivateDirectory(devices);
        }
    }

    public Task CreateThinAsync(int deviceId, long size, CancellationToken cancellationToken)
    {
        using var image = CreateImage(deviceId);
        image.SetLength(size);
        image.Flush(flushToDisk: true);
        return Task.CompletedTask;
    }

    public Task CreateSnapshotAsync(int deviceId, int originId, long size, IOperationContext context)
    {
        var originPath = Image(originId);
        if (!File.Exists(originPath))
        {
            throw new FlyException(ErrorIds.ThinDeviceNotFound, FlyErrorCategory.ObjectNotFound, $"The image of origin device {originId} ('{originPath}') is missing.", originPath);
        }

        var made = false;
        try
        {
            using var origin = new FileStream(originPath, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite });
            using var image = CreateImage(deviceId);
            made = true;
            var method = SparseCopy.Copy(origin.SafeFileHandle, image.SafeFileHandle, Math.Max(size, origin.Length), context.CancellationToken);
            image.Flush(flushToDisk: true);
            context.WriteVerbose($"Pool '{record.Name}': snapshot {deviceId} of {originId} copied by {method}.");
        }
        catch when (made)
        {
            TryDelete(Image(deviceId));
            throw;
        }

        return Task.CompletedTask;
    }

    public Task<bool> IsActiveAsync(int deviceId, CancellationToken cancellationToken) => Task.FromResult(LoopDevices.FindByBackingFile(Image(deviceId)).Count > 0);

    public async Task<string> ActivateAsync(int deviceId, long size, CancellationToken cancellationToken)
    {
        var path = Image(deviceId);
        if (!File.Exists(path))
        {
            throw new FlyException(ErrorIds.ThinDeviceNotFound, FlyErrorCategory.ObjectNotFound, $"The image of device {deviceId} ('{path}') is missing.", path);
        }

        // direct I/O on a reflinked file is in whole filesystem blocks (4 KiB on XFS): the device's blocks are the ext4
        // blocks on it (a device with anything else, or nothing yet, keeps 512-byte blocks, and direct I/O where that can be)
        var loop = await LoopDevices.FindOrAttachAsync(path, options.CommandTimeout, cancellationToken,
            directIo: reflinks.Value, blockSize: reflinks.Value && Ext4.BlockSizeOf(path) is { } ext4 ? Math.Min(ext4, 4096) : 512).ConfigureAwait(false);
        return loop.Path;
    }

    public async Task DeactivateAsync(int deviceId, CancellationToken cancellationToken)
    {
        foreach (var loop in LoopDevices.FindByBackingFile(Image(deviceId)))
        {
            await ResumeLoopAsync(loop).ConfigureAwait(false);
            await LoopDevices.DetachAsync(loop, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task DeleteAsync(int deviceId, long size, IOperationContext context)
    {
        var path = Image(deviceId);
        var attached = LoopDevices.FindByBackingFile(path);
        if (attached.Count > 0)
        {
            throw new FlyException(ErrorIds.ThinDeviceBusy, FlyErrorCategory.ResourceBusy, $"Device {deviceId} is still attached to {attached[0].Path}.", attached[0].Path);
        }

        if (File.Exists(path))
        {
            // truncate first: its extents are freed now, in the truncate, and the pool's figures show it
            // at once (XFS frees an unlinked file's blocks later, in the background)
            using var image = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            image.SetLength(0);
        }

        TryDelete(path, throwOnFailure: true);
        if (record.FilesystemImage is not null)
        {
            PoolFilesystem.Commit(devices);
        }

        return Task.CompletedTask;
    }

    public Task SuspendAsync(int deviceId, CancellationToken cancellationToken)
    {
        foreach (var loop in LoopDevices.FindByBackingFile(Image(deviceId)))
        {
            var mounts = LoopDevices.DeviceNumber(loop.Name) is { } dev ? MountTable.OfDevice(dev.Major, dev.Minor) : [];
            if (mounts.Count > 0)
            {
                // one superblock: freezing one mount point freezes them all
                FreezeOrThaw(mounts[0].MountPoint, P.FIFREEZE, ignoreNotFrozen: false);
            }
            else
            {
                FlushBlockDevice(loop.Path);
            }
        }

        return Task.CompletedTask;
    }

    public async Task ResumeAsync(int deviceId, CancellationToken cancellationToken)
    {
        foreach (var loop in LoopDevices.FindByBackingFile(Image(deviceId)))
        {
            await ResumeLoopAsync(loop).ConfigureAwait(false);
        }
    }

    public Task<PoolUsage> GetUsageAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(devices) || (record.FilesystemImage is { } image && !PoolFilesystem.IsMounted(image, devices)))
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable,
                $"The devices folder '{devices}' of pool '{record.Name}' is missing{(record.FilesystemImage is null ? "" : " or its filesystem is not mounted")}.", devices);
        }

        if (P.Statvfs(devices, out var fs) != 0)
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"statvfs '{devices}' failed: {P.Describe(P.LastError)}.", devices);
        }

        long used = 0;
        var available = (long)(fs.BlocksAvailable * fs.FragmentSize);
        if (record.FilesystemImage is { } own)
        {
            // shared extents count once: what the pool's filesystem has in use beyond its own overhead
            // (recorded as MetadataSize when it was made); it can only grow while the filesystem under its
            // sparse file has room
            used = Math.Max(0, PoolFilesystem.UsedBytes(fs) - record.MetadataSize);
            var host = Path.GetDirectoryName(own)!;
            if (P.Statvfs(host, out var hostFs) == 0)
            {
                available = Math.Min(available, (long)(hostFs.BlocksAvailable * hostFs.FragmentSize));
            }
        }
        else
        {
            foreach (var file in Directory.EnumerateFiles(devices, "*.img"))
            {
                if (Native.Libc.statx(Native.Libc.AT_FDCWD, file, Native.Libc.AT_SYMLINK_NOFOLLOW, Native.Libc.STATX_BASIC_STATS, out var st) == 0)
                {
                    used += (long)st.Blocks * 512;
                }
            }
        }

        // the pool cannot hold more than the filesystem under it has room for
        var total = Math.Min(record.DataSize, used + available);
        var mode = ThinPoolMode.ReadWrite;
        string? detail = null;
        if ((fs.Flags & P.ST_RDONLY) != 0)
        {
            mode = ThinPoolMode.ReadOnly;
            detail = $"the filesystem holding '{devices}' is read-only";
        }
        else if (available < Math.Min(MinimumFilesystemFree, record.DataSize / 20) || used >= record.DataSize)
        {
            mode = ThinPoolMode.OutOfDataSpace;
            detail = string.Create(CultureInfo.InvariantCulture, $"{ByteSize.Format(used)} used of {ByteSize.Format(record.DataSize)}; the filesystem has {ByteSize.Format(available)} free");
        }

        return Task.FromResult(new PoolUsage(mode, transactionId(), used, total, 0, 0, detail));
    }

    public Task<PoolInventory> GetInventoryAsync(CancellationToken cancellationToken)
    {
        var known = new HashSet<int>();
        var foreign = new List<string>();
        if (Directory.Exists(devices))
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(devices))
            {
                var name = Path.GetFileName(entry);
                if (record.FilesystemImage is not null && name == PoolFilesystem.ReserveFileName)
                {
                    continue; // the room of the pool's own filesystem beyond its data size
                }

                if (TryParseImageName(name) is { } id)
                {
                    known.Add(id);
                }
                else
                {
                    foreign.Add($"'{entry}' is not a device image");
                }
            }
        }

        var active = new HashSet<int>();
        var paths = new Dictionary<int, string>();
        var prefix = (P.RealPath(devices) ?? devices).TrimEnd('/') + "/";
        foreach (var loop in LoopDevices.List())
        {
            if (loop.BackingFile.StartsWith(prefix, StringComparison.Ordinal))
            {
                if (TryParseImageName(loop.BackingFile[prefix.Length..]) is { } id)
                {
                    active.Add(id);
                    paths.TryAdd(id, loop.Path);
                }
                else
                {
                    foreign.Add($"{loop.Path} is attached to '{loop.BackingFile}'");
                }
            }
        }

        return Task.FromResult(new PoolInventory(active, known, foreign) { ActivePaths = paths });
    }

    public async Task DestroyAsync(CancellationToken cancellationToken)
    {
        var prefix = (P.RealPath(devices) ?? devices).TrimEnd('/') + "/";
        foreach (var loop in LoopDevices.List().Where(l => l.BackingFile.StartsWith(prefix, StringComparison.Ordinal)))
        {
            await LoopDevices.DetachAsync(loop, cancellationToken).ConfigureAwait(false);
        }

        if (record.FilesystemImage is { } image)
        {
            await PoolFilesystem.UnmountAsync(image, devices, cancellationToken).ConfigureAwait(false);
            File.Delete(image);
            if (Directory.Exists(devices) && !Directory.EnumerateFileSystemEntries(devices).Any())
            {
                Directory.Delete(devices);
            }

            return;
        }

        if (Directory.Exists(devices))
        {
            Directory.Delete(devices, recursive: true);
        }
    }

    private string Image(int deviceId) => ThinPoolLayout.DeviceImage(devices, deviceId);

    private FileStream CreateImage(int deviceId)
    {
        try
        {
            return ThinPoolLayout.CreateNewPrivateFile(Image(deviceId));
        }
        catch (IOException) when (File.Exists(Image(deviceId)))
        {
            throw new ThinDeviceIdTakenException(deviceId, $"'{Image(deviceId)}' already exists");
        }
    }

    private static int? TryParseImageName(string name)
        => name.EndsWith(".img", StringComparison.Ordinal) && name.Length is > 4 and <= 12 && name[0] != '0' && name[..^4].All(char.IsAsciiDigit)
            && int.TryParse(name[..^4], NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id is >= 1 and <= ThinPoolNames.MaxDeviceId ? id : null;

    private static Task ResumeLoopAsync(LoopDevice loop)
    {
        if (LoopDevices.DeviceNumber(loop.Name) is { } dev)
        {
            foreach (var mount in MountTable.OfDevice(dev.Major, dev.Minor).Take(1))
            {
                FreezeOrThaw(mount.MountPoint, P.FITHAW, ignoreNotFrozen: true);
            }
        }

        return Task.CompletedTask;
    }

    private static void FreezeOrThaw(string mountPoint, ulong request, bool ignoreNotFrozen)
    {
        var fd = P.Open(mountPoint, Native.Libc.O_RDONLY | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new FlyException(ErrorIds.ThinDeviceBusy, FlyErrorCategory.DeviceError, $"'{mountPoint}' cannot be opened to {(request == P.FIFREEZE ? "freeze" : "thaw")} it: {P.Describe(P.LastError)}.", mountPoint);
        }

        try
        {
            if (P.Ioctl(fd, request, 0) != 0)
            {
                var errno = P.LastError;
                if (ignoreNotFrozen && errno == Native.Libc.EINVAL)
                {
                    return; // not frozen
                }

                throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError, $"{(request == P.FIFREEZE ? "Freezing" : "Thawing")} '{mountPoint}' failed: {P.Describe(errno)}.", mountPoint);
            }
        }
        finally
        {
            P.Close(fd);
        }
    }

    private static void FlushBlockDevice(string path)
    {
        var fd = P.Open(path, Native.Libc.O_RDONLY | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError, $"'{path}' cannot be opened to flush it: {P.Describe(P.LastError)}.", path);
        }

        try
        {
            if (P.Fsync(fd) != 0)
            {
                throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError, $"Flushing '{path}' failed: {P.Describe(P.LastError)}.", path);
            }
        }
        finally
        {
            P.Close(fd);
        }
    }

    private static void TryDelete(string path, bool throwOnFailure = false)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when ((e is IOException or UnauthorizedAccessException) && !throwOnFailure)
        {
        }
    }
}
