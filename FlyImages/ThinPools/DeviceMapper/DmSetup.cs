using FlyImages.Errors;
using FlyImages.Processes;

namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>The errno values dmsetup's messages carry that FlyImages acts on.</summary>
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

    /// <summary>ENODEV.</summary>
    NoDevice,

    /// <summary>EINVAL: a bad table or message.</summary>
    InvalidArgument,

    /// <summary>ENOSPC: the pool (usually its metadata) is full.</summary>
    NoSpace,

    /// <summary>EPERM / EACCES: not root.</summary>
    PermissionDenied,

    /// <summary>"Device does not exist." (status/info/table of an unknown name).</summary>
    DoesNotExist,
}

/// <summary>A failed dmsetup run: its errno (after the last "failed: ") and its text.</summary>
public sealed class DmSetupException : FlyException
{
    public DmSetupException(DmErrno errno, string message, string? target)
        : base(errno == DmErrno.Busy ? ErrorIds.ThinDeviceBusy : ErrorIds.DeviceMapperFailed,
            errno switch
            {
                DmErrno.Busy => FlyErrorCategory.ResourceBusy,
                DmErrno.NoSpace => FlyErrorCategory.QuotaExceeded,
                DmErrno.PermissionDenied => FlyErrorCategory.PermissionDenied,
                DmErrno.Exists => FlyErrorCategory.ResourceExists,
                DmErrno.NoDeviceOrAddress or DmErrno.NoData or DmErrno.NoDevice or DmErrno.DoesNotExist => FlyErrorCategory.ObjectNotFound,
                _ => FlyErrorCategory.DeviceError,
            },
            message, target)
    {
        Errno = errno;
    }

    public DmErrno Errno { get; }
}

/// <summary>
/// Runs dmsetup (argv, bounded in time) without udev: DM_DISABLE_UDEV=1 makes libdevmapper create
/// and remove the /dev/mapper nodes itself and never wait for udev. Failures become
/// <see cref="DmSetupException"/>s classified by value.
/// </summary>
internal sealed class DmSetup(TimeSpan timeout)
{
    private static readonly IReadOnlyDictionary<string, string?> Environment = new Dictionary<string, string?> { ["DM_DISABLE_UDEV"] = "1" };

    public async Task<string> RunAsync(IReadOnlyList<string> arguments, string? target, CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunAsync("dmsetup", arguments, timeout, Environment, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            return result.StandardOutput;
        }

        var text = (result.StandardError + "\n" + result.StandardOutput).Trim();
        throw new DmSetupException(Classify(text), $"'{result.CommandText}' failed (exit {result.ExitCode}): {Summarize(text)}", target);
    }

    /// <summary>The errno of dmsetup's text: what follows the last "failed: " on its line.</summary>
    public static DmErrno Classify(string text)
    {
        var at = text.LastIndexOf("failed: ", StringComparison.Ordinal);
        if (at < 0)
        {
            return text.Contains("Device does not exist", StringComparison.Ordinal) ? DmErrno.DoesNotExist : DmErrno.Unknown;
        }

        var rest = text[(at + "failed: ".Length)..];
        var end = rest.IndexOf('\n', StringComparison.Ordinal);
        var reason = (end < 0 ? rest : rest[..end]).Trim();
        return reason switch
        {
            "Device or resource busy" => DmErrno.Busy,
            "No such device or address" => DmErrno.NoDeviceOrAddress,
            "No data available" => DmErrno.NoData,
            "File exists" => DmErrno.Exists,
            "No such device" => DmErrno.NoDevice,
            "Invalid argument" => DmErrno.InvalidArgument,
            "No space left on device" => DmErrno.NoSpace,
            "Operation not permitted" or "Permission denied" => DmErrno.PermissionDenied,
            _ => DmErrno.Unknown,
        };
    }

    private static string Summarize(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l != "Command failed.").ToList();
        var joined = string.Join(" | ", lines);
        return joined.Length <= 1000 ? joined : joined[..1000] + "...";
    }
}
