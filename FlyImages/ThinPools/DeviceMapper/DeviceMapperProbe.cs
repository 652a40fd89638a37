namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>
/// Whether the running kernel has device-mapper. A /dev/mapper/control node proves nothing (some
/// machines have one without the driver): /proc/misc must list "device-mapper"; when /proc/misc
/// cannot be read, <c>dmsetup version</c> must print a driver version.
/// </summary>
public static class DeviceMapperProbe
{
    public static bool IsAvailable()
    {
        try
        {
            return ProcMiscHasDeviceMapper(File.ReadAllText("/proc/misc"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return DriverLineAsync(CancellationToken.None).GetAwaiter().GetResult() is not null;
        }
    }

    /// <summary>True when a /proc/misc text lists the device-mapper misc device.</summary>
    public static bool ProcMiscHasDeviceMapper(string procMisc)
        => procMisc.Split('\n').Any(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, "device-mapper"]);

    /// <summary>The "Driver version:" line of <c>dmsetup version</c>, or null when the kernel driver does not answer.</summary>
    public static async Task<string?> DriverLineAsync(CancellationToken cancellationToken)
    {
        try
        {
            var result = await Processes.ProcessRunner.RunAsync("dmsetup", ["version"], TimeSpan.FromSeconds(30),
                new Dictionary<string, string?> { ["DM_DISABLE_UDEV"] = "1" }, cancellationToken: cancellationToken).ConfigureAwait(false);
            return result.StandardOutput.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("Driver version:", StringComparison.Ordinal));
        }
        catch (Errors.FlyException)
        {
            return null;
        }
    }
}
