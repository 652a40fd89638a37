using System.Globalization;
using FlyImages.Errors;
using FlyImages.Native;
using static FlyImages.Native.Libc;

namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>The errno values of device-mapper calls that FlyImages acts on.</summary>
public enum DmErrno
{
    Unknown,

    /// <summary>EBUSY: open (mounted, or held by udev/blkid a moment): retried.</summary>
    Busy,

    /// <summary>ENXIO: no such device (remove of a device already gone: success).</summary>
    NoDeviceOrAddress,

    /// <summary>ENODATA: the pool holds no such thin id (delete of a deleted device: success).</summary>
    NoData,

    /// <summary>EEXIST: the thin id (or dm name) is taken.</summary>
    Exists,

    /// <summary>ENODEV: a table names a device that does not exist, or this kernel has no device-mapper (then NotInstalled).</summary>
    NoDevice,

    /// <summary>EINVAL: a bad table or message.</summary>
    InvalidArgument,

    /// <summary>ENOSPC: the pool (usually its metadata) is full.</summary>
    NoSpace,

    /// <summary>EPERM / EACCES: not root.</summary>
    PermissionDenied,

    /// <summary>The call did not return within the command timeout (a suspend waiting on I/O that cannot complete).</summary>
    TimedOut,
}

/// <summary>A failed device-mapper call: its errno, classified, and a message naming the call, the device and the reason.</summary>
public sealed class DeviceMapperException : FlyException
{
    public DeviceMapperException(DmErrno errno, string message, string? target, FlyErrorCategory? category = null)
        : base(errno == DmErrno.Busy ? ErrorIds.ThinDeviceBusy : ErrorIds.DeviceMapperFailed,
            category ?? errno switch
            {
                DmErrno.Busy => FlyErrorCategory.ResourceBusy,
                DmErrno.NoSpace => FlyErrorCategory.QuotaExceeded,
                DmErrno.PermissionDenied => FlyErrorCategory.PermissionDenied,
                DmErrno.Exists => FlyErrorCategory.ResourceExists,
                DmErrno.NoDeviceOrAddress or DmErrno.NoData or DmErrno.NoDevice => FlyErrorCategory.ObjectNotFound,
                DmErrno.TimedOut => FlyErrorCategory.OperationTimeout,
                _ => FlyErrorCategory.DeviceError,
            },
            message, target)
    {
        Errno = errno;
    }

    public DmErrno Errno { get; }
}

/// <summary>A device as DM_DEV_STATUS reports it.</summary>
internal sealed record DmDeviceInfo(uint Major, uint Minor, bool Suspended, int OpenCount)
{
    /// <summary>"major:minor", as tables name devices.</summary>
    public string Device => string.Create(CultureInfo.InvariantCulture, $"{Major}:{Minor}");
}

/// <summary>
/// Device-mapper through its control device (/dev/mapper/control), as libdevmapper does it but with no process
/// per call: each call is one or a few ioctls (<see cref="DmIoctl"/>) of microseconds, where a dmsetup process
/// costs milliseconds on hardware and most of a second in an emulated VM. The /dev/mapper node of each device is
/// kept here too (made on create, removed on remove, as libdevmapper does without udev); only
/// <c>/dev/mapper/&lt;name&gt;</c> of a checked name is ever made or unlinked. Each call runs off the caller's
/// thread and is bounded by the timeout (a suspend can wait on I/O that never completes); a cancelled caller stops
/// waiting, and state it left is found again from the kernel (sysfs) by the next run.
/// </summary>
internal sealed class DmControl(TimeSpan timeout)
{
    public const string MapperDirectory = "/dev/mapper";
    private const string ControlPath = MapperDirectory + "/control";
    private const string MiscDevice = "/sys/class/misc/device-mapper/dev";
    private const int ENODATA = 61;

    /// <summary>The live table of <paramref name="name"/> (as <c>dmsetup table</c>); ENXIO (<see cref="DmErrno.NoDeviceOrAddress"/>) when there is no such device.</summary>
    public Task<DmTarget[]> TableAsync(string name, CancellationToken cancellationToken)
        => RunAsync("table", name, () => Targets(name, DmIoctl.StatusTableFlag), cancellationToken);

    /// <summary>The status of <paramref name="name"/>'s targets (as <c>dmsetup status</c>: a thin-pool commits its metadata first).</summary>
    public Task<DmTarget[]> StatusAsync(string name, CancellationToken cancellationToken)
        => RunAsync("status", name, () => Targets(name, 0), cancellationToken);

    /// <summary>Whether <paramref name="name"/> exists, its device number and whether it is suspended; null when it does not exist.</summary>
    public Task<DmDeviceInfo?> InfoAsync(string name, CancellationToken cancellationToken)
        => RunAsync("info", name, () => Info(name), cancellationToken);

    /// <summary>
    /// Creates <paramref name="name"/> with <paramref name="table"/> live (create, load, resume, as <c>dmsetup create
    /// --table</c>) and its /dev/mapper node. A device whose table could not be loaded or resumed is removed again;
    /// a name the kernel already has is <see cref="DmErrno.Exists"/> and that device is not touched.
    /// </summary>
    public Task CreateAsync(string name, IReadOnlyList<DmTarget> table, CancellationToken cancellationToken)
        => RunAsync("create", name, () =>
        {
            var load = DmIoctl.TableLoad(name, table);
            try
            {
                Call(DmIoctl.Command.DeviceCreate, DmIoctl.NewBuffer(name, 0), "create", name);
            }
            catch (DeviceMapperException e) when (e.Errno == DmErrno.Busy)
            {
                // the kernel answers EBUSY for a name it already has
                throw new DeviceMapperException(DmErrno.Exists, $"device-mapper already has a device named '{name}'; it was left as it is.", name);
            }

            try
            {
                Call(DmIoctl.Command.TableLoad, load, "load the table of", name, string.Join("; ", table));
                var reply = Call(DmIoctl.Command.DeviceSuspend, DmIoctl.NewBuffer(name, 0), "resume", name);
                var (major, minor) = DmIoctl.DecodeDevice(reply.Device);
                MakeNode(name, major, minor);
            }
            catch
            {
                TryRemove(name);
                throw;
            }

            return true;
        }, cancellationToken);

    /// <summary>Sends <paramref name="message"/> to sector 0 of <paramref name="name"/>'s target (as <c>dmsetup message NAME 0 MESSAGE</c>).</summary>
    public Task MessageAsync(string name, string message, string? target, CancellationToken cancellationToken)
        => RunAsync("message", target ?? name, () => Call(DmIoctl.Command.TargetMessage, DmIoctl.Message(name, 0, message), $"message '{message}' to", name), cancellationToken);

    public Task SuspendAsync(string name, CancellationToken cancellationToken)
        => RunAsync("suspend", name, () => Call(DmIoctl.Command.DeviceSuspend, DmIoctl.NewBuffer(name, DmIoctl.SuspendFlag), "suspend", name), cancellationToken);

    public Task ResumeAsync(string name, CancellationToken cancellationToken)
        => RunAsync("resume", name, () => Call(DmIoctl.Command.DeviceSuspend, DmIoctl.NewBuffer(name, 0), "resume", name), cancellationToken);

    /// <summary>Removes <paramref name="name"/> (EBUSY while it is open) and its /dev/mapper node.</summary>
    public Task RemoveAsync(string name, CancellationToken cancellationToken)
        => RunAsync("remove", name, () =>
        {
            Call(DmIoctl.Command.DeviceRemove, DmIoctl.NewBuffer(name, 0), "remove", name);
            RemoveNode(name);
            return true;
        }, cancellationToken);

    /// <summary>
    /// Brings /dev/mapper/<paramref name="name"/> in line with the kernel (as <c>dmsetup mknodes NAME</c>): a block node
    /// with the device's number when the device exists, no block node when it does not.
    /// </summary>
    public Task SyncNodeAsync(string name, CancellationToken cancellationToken)
        => RunAsync("mknodes", name, () =>
        {
            if (Info(name) is { } info)
            {
                MakeNode(name, info.Major, info.Minor);
            }
            else
            {
                RemoveNode(name);
            }

            return true;
        }, cancellationToken);

    /// <summary>Every device whose live table has a target of <paramref name="type"/>, with that target (as <c>dmsetup table --target TYPE</c>).</summary>
    public Task<(string Name, DmTarget Target)[]> TargetsOfTypeAsync(string type, CancellationToken cancellationToken)
        => RunAsync("table --target", type, () =>
        {
            var found = new List<(string, DmTarget)>();
            foreach (var (name, _) in Read(DmIoctl.Command.ListDevices, null, 0, "list devices", DmIoctl.ReadNames))
            {
                try
                {
                    found.AddRange(Targets(name, DmIoctl.StatusTableFlag).Where(t => t.Type == type).Select(t => (name, t)));
                }
                catch (DeviceMapperException e) when (e.Errno == DmErrno.NoDeviceOrAddress)
                {
                    // removed since the list was read
                }
            }

            return found.ToArray();
        }, cancellationToken);

    /// <summary>The kernel's device-mapper interface version ("4.48.0"); null when it has none or it cannot be asked.</summary>
    public static string? DriverVersion()
    {
        try
        {
            var buffer = DmIoctl.NewBuffer(null, 0);
            Call(DmIoctl.Command.Version, buffer, "ask the version of", "device-mapper");
            return DmIoctl.ReadVersion(buffer);
        }
        catch (DeviceMapperException)
        {
            return null;
        }
    }

    /// <summary>The errno class of a failed call.</summary>
    public static DmErrno Classify(int errno) => errno switch
    {
        Pools.EBUSY => DmErrno.Busy,
        Pools.ENXIO => DmErrno.NoDeviceOrAddress,
        ENODATA => DmErrno.NoData,
        EEXIST => DmErrno.Exists,
        Pools.ENODEV => DmErrno.NoDevice,
        EINVAL => DmErrno.InvalidArgument,
        ENOSPC => DmErrno.NoSpace,
        EPERM or Pools.EACCES => DmErrno.PermissionDenied,
        _ => DmErrno.Unknown,
    };

    private async Task<T> RunAsync<T>(string operation, string target, Func<T> call, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return await Task.Run(call, CancellationToken.None).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new DeviceMapperException(DmErrno.TimedOut,
                $"The device-mapper {operation} of '{target}' did not return within {timeout.TotalSeconds:0} s (a suspend or a pool waits on I/O that does not complete: check the pool's status and the kernel log).", target);
        }
        catch (ArgumentException e)
        {
            throw new DeviceMapperException(DmErrno.InvalidArgument, $"The device-mapper {operation} of '{target}' was not sent: {e.Message}", target);
        }
    }

    private static DmTarget[] Targets(string name, uint flags) => Read(DmIoctl.Command.TableStatus, name, flags, flags == 0 ? "read the status of" : "read the table of", DmIoctl.ReadTargets);

    private static DmDeviceInfo? Info(string name)
    {
        try
        {
            var reply = Call(DmIoctl.Command.DeviceStatus, DmIoctl.NewBuffer(name, 0), "read the state of", name);
            var (major, minor) = DmIoctl.DecodeDevice(reply.Device);
            return new DmDeviceInfo(major, minor, reply.Suspended, reply.OpenCount);
        }
        catch (DeviceMapperException e) when (e.Errno == DmErrno.NoDeviceOrAddress)
        {
            return null;
        }
    }

    /// <summary>A reading command, its buffer doubled while the kernel says the answer did not fit.</summary>
    private static T Read<T>(DmIoctl.Command command, string? name, uint flags, string what, DecodeAnswer<T> decode)
    {
        for (var size = DmIoctl.InitialBufferSize; ; size *= 2)
        {
            var buffer = DmIoctl.NewBuffer(name, flags, size);
            var reply = Call(command, buffer, what, name ?? "device-mapper");
            if (!reply.BufferFull)
            {
                try
                {
                    return decode(buffer);
                }
                catch (InvalidDataException e)
                {
                    throw new DeviceMapperException(DmErrno.Unknown, $"The kernel's answer to {what} '{name}' cannot be read: {e.Message}", name);
                }
            }

            if (size >= DmIoctl.MaxBufferSize)
            {
                throw new DeviceMapperException(DmErrno.NoSpace, $"The kernel's answer to {what} '{name}' does not fit in {DmIoctl.MaxBufferSize / 1024 / 1024} MiB.", name);
            }
        }
    }

    private delegate T DecodeAnswer<out T>(ReadOnlySpan<byte> buffer);

    /// <summary>One ioctl on the control device (retried when a signal interrupts it); a <see cref="DeviceMapperException"/> when it fails.</summary>
    private static unsafe DmReply Call(DmIoctl.Command command, byte[] buffer, string what, string name, string? detail = null)
    {
        var fd = OpenControl();
        try
        {
            int rc;
            var attempts = 0;
            fixed (byte* p = buffer)
            {
                do
                {
                    rc = Pools.Ioctl(fd, DmIoctl.Request(command), (nint)p);
                }
                while (rc < 0 && Pools.LastError == EINTR && ++attempts < 100);
            }

            if (rc < 0)
            {
                var errno = Pools.LastError;
                var hint = errno == EINVAL && command is DmIoctl.Command.TableLoad or DmIoctl.Command.TargetMessage
                    ? " (the kernel log, dmesg, says which argument the target refused)"
                    : "";
                var table = detail is null ? "" : $" [{detail}]";
                throw new DeviceMapperException(Classify(errno), $"device-mapper could not {what} '{name}'{table}: {Pools.Describe(errno)}{hint}.", name);
            }

            return DmIoctl.ReadReply(buffer);
        }
        catch (InvalidDataException e)
        {
            throw new DeviceMapperException(DmErrno.Unknown, $"The kernel's answer to {what} '{name}' cannot be read: {e.Message}", name);
        }
        finally
        {
            Pools.Close(fd);
        }
    }

    /// <summary>/dev/mapper/control, made from sysfs when it is missing (as libdevmapper does).</summary>
    private static int OpenControl()
    {
        var fd = Pools.Open(ControlPath, Pools.O_RDWR | O_CLOEXEC, 0);
        if (fd >= 0)
        {
            return fd;
        }

        var errno = Pools.LastError;
        if (errno == ENOENT && Pools.ReadSmallFile(MiscDevice)?.Trim().Split(':') is [var ma, var mi]
            && uint.TryParse(ma, NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            && uint.TryParse(mi, NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            Directory.CreateDirectory(MapperDirectory);
            if (Pools.Mknod(ControlPath, S_IFCHR | 0x180, DmIoctl.EncodeDevice(major, minor)) == 0 || Pools.LastError == EEXIST)
            {
                fd = Pools.Open(ControlPath, Pools.O_RDWR | O_CLOEXEC, 0);
                if (fd >= 0)
                {
                    return fd;
                }
            }

            errno = Pools.LastError;
        }

        // no node, or a node no driver answers (a container's /dev may have one): the kernel has no device-mapper
        throw errno is ENOENT or Pools.ENXIO or Pools.ENODEV
            ? new DeviceMapperException(DmErrno.NoDevice,
                $"This kernel has no device-mapper: '{ControlPath}' {(errno == ENOENT ? "does not exist" : "exists but no driver answers it")} and /proc/misc lists no 'device-mapper' (load the dm_mod and dm_thin_pool modules, or use a BlockFile pool).",
                ControlPath, FlyErrorCategory.NotInstalled)
            : new DeviceMapperException(Classify(errno), $"'{ControlPath}' cannot be opened: {Pools.Describe(errno)}{(errno is EPERM or Pools.EACCES ? " (device-mapper needs root)" : "")}.", ControlPath);
    }

    /// <summary>
    /// /dev/mapper/<paramref name="name"/> as a block node of major:minor. A node with another number is replaced;
    /// a symlink that leads to the device (udev's) is kept; anything else there is an error, never overwritten.
    /// </summary>
    private static void MakeNode(string name, uint major, uint minor)
    {
        var path = Path.Combine(MapperDirectory, name);
        Directory.CreateDirectory(MapperDirectory);
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, out var st) == 0)
        {
            var type = st.Mode & S_IFMT;
            if (type == S_IFBLK && st.RdevMajor == major && st.RdevMinor == minor)
            {
                return;
            }

            if (type == S_IFLNK && statx(AT_FDCWD, path, 0, STATX_TYPE, out var target) == 0
                && (target.Mode & S_IFMT) == S_IFBLK && target.RdevMajor == major && target.RdevMinor == minor)
            {
                return;
            }

            if (type is not (S_IFBLK or S_IFLNK))
            {
                throw new DeviceMapperException(DmErrno.Exists, $"'{path}' exists and is not a device node; it was left as it is, so the device '{name}' has no node there.", name);
            }

            File.Delete(path);
        }

        if (Pools.Mknod(path, S_IFBLK | 0x180, DmIoctl.EncodeDevice(major, minor)) != 0 && Pools.LastError != EEXIST)
        {
            var errno = Pools.LastError;
            throw new DeviceMapperException(Classify(errno), $"The node '{path}' of the device '{name}' cannot be made: {Pools.Describe(errno)}.", name);
        }
    }

    /// <summary>Unlinks a block node /dev/mapper/<paramref name="name"/> (a symlink is udev's, and udev removes it).</summary>
    private static void RemoveNode(string name)
    {
        var path = Path.Combine(MapperDirectory, name);
        if (FileType(path) == S_IFBLK)
        {
            File.Delete(path);
        }
    }

    private static void TryRemove(string name)
    {
        try
        {
            Call(DmIoctl.Command.DeviceRemove, DmIoctl.NewBuffer(name, 0), "remove", name);
        }
        catch (DeviceMapperException)
        {
            // the first failure is the one reported
        }
    }
}
