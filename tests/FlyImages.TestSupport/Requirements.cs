using Xunit;

namespace FlyImages.TestSupport;

/// <summary>
/// What a test needs from the machine. A test that lacks a component says which and why it did not
/// run (Skip.IfNot with these messages); it never passes in its place.
/// </summary>
public static class Requirements
{
    /// <summary>xunit trait name/value for tests that need the kernel's device-mapper (run in tests/vm).</summary>
    public const string Category = "Category";
    public const string DeviceMapper = "DeviceMapper";
    public const string RootOnly = "Root";

    public const string NoDeviceMapperMessage = "not run: kernel has no devicemapper (run tests/vm/run-dm-tests.sh, or on a host with dm-thin-pool)";
    public const string NotRootMessage = "not run: needs root (loop devices, mount)";

    /// <summary>The running kernel has device-mapper (not just a /dev/mapper/control node): /proc/misc lists it.</summary>
    public static bool HasDeviceMapper
    {
        get
        {
            try
            {
                return File.ReadLines("/proc/misc").Any(l => l.TrimEnd().EndsWith(" device-mapper", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return false;
            }
        }
    }

    public static bool IsRoot => Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root" || GetEuid() == 0;

    /// <summary>Loop devices can be attached (root, and /dev/loop-control exists).</summary>
    public static bool HasLoopDevices => IsRoot && File.Exists("/dev/loop-control");

    public static void RequireDeviceMapper() => Skip.IfNot(HasDeviceMapper, NoDeviceMapperMessage);

    public static void RequireRoot() => Skip.IfNot(IsRoot, NotRootMessage);

    /// <summary>mkfs.xfs is on PATH and the kernel has XFS (block-file pools with a filesystem of their own).</summary>
    public static bool HasXfs => OnPath("mkfs.xfs") is not null && File.ReadLines("/proc/filesystems").Any(l => l.Trim() == "xfs");

    /// <summary>The full path of <paramref name="program"/> in a PATH folder, or null.</summary>
    public static string? OnPath(string program)
        => (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Where(d => d.Length > 0)
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    public static void RequireXfs() => Skip.IfNot(HasXfs, "not run: needs mkfs.xfs (xfsprogs) and XFS in the kernel (block-file pools on their own reflink filesystem)");

    public static void RequireLoopDevices() => Skip.IfNot(HasLoopDevices, "not run: needs root and /dev/loop-control (loop devices)");

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();
}
