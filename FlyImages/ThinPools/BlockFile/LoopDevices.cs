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
/// attached with losetup (argv), detached with LOOP_CLR_FD after an exclusive open, so a mounted
/// or held device is reported busy instead of being lazily detached behind the caller's back.
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

    /// <summary>The loop device of <paramref name="file"/>, attaching one when there is none.</summary>
    public static async Task<LoopDevice> FindOrAttachAsync(string file, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var existing = FindByBackingFile(file);
        if (existing.Count > 0)
        {
            return existing[0];
        }

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
    /// Detaches <paramref name="loop"/>. Gone already is success. Mounted or held open: ThinDeviceBusy
    /// (a device held open non-exclusively is marked to detach when its last holder closes it).
    /// </summary>
    public static async Task DetachAsync(LoopDevice loop, CancellationToken cancellationToken)
    {
        var fd = P.Open(loop.Path, Native.Libc.O_RDONLY | Native.Libc.O_EXCL | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = P.LastError;
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
        try
        {
            var text = File.ReadAllText(System.IO.Path.Combine(SysBlock, name, "loop", "backing_file")).TrimEnd('\n');
            return text.Length == 0 ? null : text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string FirstLine(string text) => text.Trim().Split('\n')[0];

    [GeneratedRegex("^loop[0-9]+$")]
    private static partial Regex LoopName();

    [GeneratedRegex("^/dev/loop[0-9]+$")]
    private static partial Regex DevPath();
}
