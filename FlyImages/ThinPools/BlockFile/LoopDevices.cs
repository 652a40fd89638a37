using System.Globalization;
using System.Text.RegularExpressions;
using FlyImages.Errors;
using FlyImages.Processes;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools.BlockFile;

/// <summary>An attached loop device.</summary>
internal sealed record LoopDevice(string Name, string BackingFile)
{
    public string Path => "/dev/" + Name;
}

/// <summary>
/// Loop devices, found by backing file first (sysfs) so nothing is attached twice or leaked;
/// attached in process (LOOP_CTL_GET_FREE, then LOOP_CONFIGURE: no losetup process to start, which
/// was most of a block-file snapshot's cost), with losetup (argv) as the fallback on kernels before
/// 5.8; detached with LOOP_CLR_FD after an exclusive open, so a mounted or held device is reported
/// busy instead of being lazily detached behind the caller's back. A caller may ask for direct I/O
/// on the backing file (LO_FLAGS_DIRECT_IO, where the file's filesystem allows it): the bytes written
/// through the device are then not cached a second time as the backing file's pages.
/// </summary>
internal static partial class LoopDevices
{
    private const string SysBlock = "/sys/block";

    /// <summary>Every attached loop device and its backing file.</summary>
    public static IReadOnlyList<LoopDevice> List()
    {
        var found = new List<LoopDevice>();
        if (!Directory.Exists(SysBlock))
        {
            return found;
        }

        foreach (var dir in Directory.EnumerateDirectories(SysBlock, "loop*"))
        {
            var name = System.IO.Path.GetFileName(dir);
            if (!LoopName().IsMatch(name))
            {
                continue;
            }

            var backing = ReadBackingFile(name);
            if (backing is not null)
            {
                found.Add(new LoopDevice(name, backing));
            }
        }

        return found;
    }

    /// <summary>The loop devices whose backing file is <paramref name="file"/> (canonical path).</summary>
    public static IReadOnlyList<LoopDevice> FindByBackingFile(string file)
    {
        var canonical = P.RealPath(file) ?? System.IO.Path.GetFullPath(file);
        return List().Where(l => l.BackingFile == canonical).ToList();
    }

    /// <summary>
    /// The loop device of <paramref name="file"/>, attaching one when there is none. Our processes take
    /// an exclusive flock on /dev/loop-control between the look and the attach, so two of them never
    /// attach the same file twice. A device this call attaches has logical blocks of <paramref name="blockSize"/>
    /// bytes (the kernel's 512 unless the caller knows better: never more than the filesystem on it uses)
    /// and, with <paramref name="directIo"/>, reads and writes its backing file with O_DIRECT where the
    /// file allows it at that block size (else buffered). A device found attached is used as it is.
    /// </summary>
    public static async Task<LoopDevice> FindOrAttachAsync(string file, TimeSpan timeout, CancellationToken cancellationToken, bool directIo = false, int blockSize = 512)
    {
        var existing = FindByBackingFile(file);
        if (existing.Count > 0)
        {
            return existing[0];
        }

        var control = P.Open("/dev/loop-control", P.O_RDWR | Native.Libc.O_CLOEXEC, 0);
        try
        {
            if (control >= 0)
            {
                while (P.Flock(control, P.LOCK_EX) != 0)
                {
                    if (P.LastError != Native.Libc.EINTR)
                    {
                        break;   // unlocked is what losetup --nooverlap does too
                    }
                }

                existing = FindByBackingFile(file);
                if (existing.Count > 0)
                {
                    return existing[0];
                }

                var attached = AttachInProcess(control, file, directIo, blockSize);
                if (attached is not null)
                {
                    return attached;
                }
            }

            return await AttachWithLosetupAsync(file, timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (control >= 0)
            {
                P.Close(control);   // releases the flock
            }
        }
    }

    private static async Task<LoopDevice> AttachWithLosetupAsync(string file, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // --nooverlap reuses a device another process attached between our look and losetup's.
        var result = await ProcessRunner.RunAsync("losetup", ["--find", "--show", "--nooverlap", file], timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
        var path = result.StandardOutput.Trim();
        if (!result.Succeeded || !DevPath().IsMatch(path))
        {
            throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError,
                $"'{result.CommandText}' failed (exit {result.ExitCode}): {FirstLine(result.StandardError)}{FirstLine(result.StandardOutput)}", file)
            {
                RecommendedAction = "Loop devices need root and /dev/loop-control; check 'losetup -a' for free devices.",
            };
        }

        var name = path["/dev/".Length..];
        return new LoopDevice(name, ReadBackingFile(name) ?? file);
    }

    /// <summary>
    /// Attaches <paramref name="file"/> to a free loop device with two ioctls: LOOP_CTL_GET_FREE names
    /// one, LOOP_CONFIGURE binds the file to it (a device another process took in between answers
    /// EBUSY: ask for another). Null when this kernel cannot (no /dev/loop-control, or no
    /// LOOP_CONFIGURE before Linux 5.8, or no device node): the caller then runs losetup. Direct I/O
    /// that the backing file cannot do (EINVAL: its filesystem, or its alignment above the block size)
    /// is dropped, and the same device is asked again.
    /// </summary>
    private static unsafe LoopDevice? AttachInProcess(int control, string file, bool directIo, int blockSize)
    {
        var flags = directIo ? P.LO_FLAGS_DIRECT_IO : 0u;
        var backing = P.Open(file, P.O_RDWR | Native.Libc.O_CLOEXEC, 0);
        if (backing < 0 && P.LastError is P.EROFS or P.EACCES)
        {
            // as losetup does: a file that can only be read gets a read-only device
            flags |= P.LO_FLAGS_READ_ONLY;
            backing = P.Open(file, Native.Libc.O_RDONLY | Native.Libc.O_CLOEXEC, 0);
        }

        try
        {
            if (backing < 0)
            {
                throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError,
                    $"'{file}' cannot be opened to attach it to a loop device: {P.Describe(P.LastError)}.", file);
            }

            for (var attempt = 0; attempt < 32; attempt++)
            {
                var number = P.Ioctl(control, P.LOOP_CTL_GET_FREE, 0);
                if (number < 0)
                {
                    throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError,
                        $"No free loop device for '{file}': {P.Describe(P.LastError)}.", file)
                    {
                        RecommendedAction = "Check 'losetup -a' for leaked devices and the loop module's max_loop.",
                    };
                }

                var name = "loop" + number.ToString(CultureInfo.InvariantCulture);
                var device = P.Open("/dev/" + name, P.O_RDWR | Native.Libc.O_CLOEXEC, 0);
                if (device < 0)
                {
                    return null;   // no device node (a /dev without devtmpfs): losetup knows how to make one
                }

                int rc, errno;
                try
                {
                    var config = default(P.LoopConfig);
                    config.Fd = (uint)backing;
                    config.BlockSize = (uint)blockSize;
                    config.Info.Flags = flags;
                    rc = P.Ioctl(device, P.LOOP_CONFIGURE, (nint)(&config));
                    errno = rc == 0 ? 0 : P.LastError;
                }
                finally
                {
                    P.Close(device);
                }

                if (rc == 0)
                {
                    return new LoopDevice(name, ReadBackingFile(name) ?? file);
                }

                if (errno == P.EBUSY)
                {
                    continue;   // another process bound this one between our two calls
                }

                if (errno == Native.Libc.EINVAL && (flags & P.LO_FLAGS_DIRECT_IO) != 0)
                {
                    // a backing file that cannot do direct I/O (its filesystem, or its block size): buffered, as before
                    flags &= ~P.LO_FLAGS_DIRECT_IO;
                    attempt--;
                    continue;
                }

                if (errno is P.ENOTTY or Native.Libc.EINVAL && attempt == 0)
                {
                    return null;   // a kernel before 5.8
                }

                throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError,
                    $"Attaching '{file}' to /dev/{name} failed: {P.Describe(errno)}.", file);
            }

            throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError,
                $"Every free loop device was taken by another process before '{file}' could be attached (32 tries).", file);
        }
        finally
        {
            if (backing >= 0)
            {
                P.Close(backing);
            }
        }
    }

    /// <summary>
    /// Detaches <paramref name="loop"/>. Gone already is success. Mounted or held open: ThinDeviceBusy
    /// (a device held open non-exclusively is marked to detach when its last holder closes it).
    /// </summary>
    public static async Task DetachAsync(LoopDevice loop, CancellationToken cancellationToken)
    {
        var fd = P.Open(loop.Path, Native.Libc.O_RDONLY | Native.Libc.O_EXCL | Native.Libc.O_CLOEXEC, 0);
        var openError = fd < 0 ? P.LastError : 0;
        // Just after an unmount (or while udev probes a device) the kernel can still hold it for a moment:
        // a device no mount uses gets up to two seconds to be let go before it is reported busy.
        for (var waited = 0; fd < 0 && openError == P.EBUSY && waited < 2000 && !IsMounted(loop); waited += 50)
        {
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            fd = P.Open(loop.Path, Native.Libc.O_RDONLY | Native.Libc.O_EXCL | Native.Libc.O_CLOEXEC, 0);
            openError = fd < 0 ? P.LastError : 0;
        }

        if (fd < 0)
        {
            var errno = openError;
            if (errno is P.ENXIO or Native.Libc.ENOENT or P.ENODEV)
            {
                return;
            }

            if (errno == P.EBUSY)
            {
                throw Busy(loop, "it is mounted or held open exclusively");
            }

            throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError, $"{loop.Path} cannot be opened to detach it: {P.Describe(errno)}.", loop.Path);
        }

        try
        {
            // found by backing file earlier: if the name now serves another file (ours went and another process's
            // attach took the free number), it is not ours to detach
            if (ReadBackingFile(loop.Name) != loop.BackingFile)
            {
                return;
            }

            if (P.Ioctl(fd, P.LOOP_CLR_FD, 0) != 0)
            {
                var errno = P.LastError;
                if (errno == P.ENXIO)
                {
                    return;
                }

                if (errno == P.EBUSY)
                {
                    throw Busy(loop, P.Describe(errno));
                }

                throw new FlyException(ErrorIds.LoopDeviceFailed, FlyErrorCategory.DeviceError, $"Detaching {loop.Path} failed: {P.Describe(errno)}.", loop.Path);
            }
        }
        finally
        {
            P.Close(fd);
        }

        // The kernel detaches on the last close; ours was the last unless someone else holds it.
        for (var i = 0; i < 40; i++)
        {
            if (ReadBackingFile(loop.Name) != loop.BackingFile)
            {
                return;
            }

            await Task.Delay(25, cancellationToken).ConfigureAwait(false);
        }

        throw Busy(loop, "another process holds it open; it detaches when that process closes it");
    }

    private static bool IsMounted(LoopDevice loop) => DeviceNumber(loop.Name) is not { } dev || MountTable.OfDevice(dev.Major, dev.Minor).Count > 0;

    /// <summary>The device number of an attached loop device.</summary>
    public static (int Major, int Minor)? DeviceNumber(string name)
    {
        try
        {
            var text = File.ReadAllText(System.IO.Path.Combine(SysBlock, name, "dev")).Trim().Split(':');
            return (int.Parse(text[0], CultureInfo.InvariantCulture), int.Parse(text[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static FlyException Busy(LoopDevice loop, string why) => new(ErrorIds.ThinDeviceBusy, FlyErrorCategory.ResourceBusy,
        $"{loop.Path} (backing file '{loop.BackingFile}') is busy: {why}.", loop.Path)
    {
        RecommendedAction = "Unmount it and close programs using it, then try again.",
    };

    private static string? ReadBackingFile(string name)
    {
        // an unbound device has no loop/ folder (null, no exception: a machine can have dozens of them, and an
        // exception per device per scan was most of the time of every pool operation); a plain open/read/close,
        // as every pool operation scans every loop device a few times
        var text = P.ReadSmallFile(System.IO.Path.Combine(SysBlock, name, "loop", "backing_file"))?.TrimEnd('\n');
        return string.IsNullOrEmpty(text) ? null : text;
    }

    private static string FirstLine(string text) => text.Trim().Split('\n')[0];

    [GeneratedRegex("^loop[0-9]+$")]
    private static partial Regex LoopName();

    [GeneratedRegex("^/dev/loop[0-9]+$")]
    private static partial Regex DevPath();
}
