namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>
/// Whether the running kernel has device-mapper. A /dev/mapper/control node proves nothing (some
/// machines have one without the driver): /proc/misc must list "device-mapper"; when /proc/misc
/// cannot be read, the control device must answer DM_VERSION.
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
            return DriverVersion() is not null;
        }
    }

    /// <summary>True when a /proc/misc text lists the device-mapper misc device.</summary>
    public static bool ProcMiscHasDeviceMapper(string procMisc)
        => procMisc.Split('\n').Any(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, "device-mapper"]);

    /// <summary>The kernel's device-mapper interface version ("4.48.0", as dmsetup's "Driver version:"), or null when the kernel does not answer.</summary>
    public static string? DriverVersion() => DmControl.DriverVersion();
}
