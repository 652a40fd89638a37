using System.Globalization;
using System.Security.Cryptography;
using FlyImages.Operations;

namespace FlyImages.ThinPools;

/// <summary>
/// Where a pool keeps its files under the store: <c>pools/&lt;pool&gt;/</c> (lock, data and metadata files,
/// <c>devices/&lt;id&gt;.img</c>) and <c>mounts/&lt;pool&gt;/&lt;id&gt;-&lt;random&gt;</c> (private mount points).
/// Every path is built from a validated pool name and numeric ids only.
/// </summary>
internal static class ThinPoolLayout
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static string PoolDirectory(string storeRoot, string pool) => Path.Combine(storeRoot, "pools", ThinPoolNames.ValidatePool(pool));

    public static string LockPath(string storeRoot, string pool) => Path.Combine(PoolDirectory(storeRoot, pool), "pool.lock");

    public static string DataFile(string storeRoot, string pool) => Path.Combine(PoolDirectory(storeRoot, pool), "data.img");

    public static string MetadataFile(string storeRoot, string pool) => Path.Combine(PoolDirectory(storeRoot, pool), "metadata.img");

    public static string DevicesDirectory(string storeRoot, string pool) => Path.Combine(PoolDirectory(storeRoot, pool), "devices");

    public static string DeviceImage(string devicesDirectory, int deviceId) => Path.Combine(devicesDirectory, deviceId.ToString(CultureInfo.InvariantCulture) + ".img");

    public static string MountsDirectory(string storeRoot, string pool) => Path.Combine(storeRoot, "mounts", ThinPoolNames.ValidatePool(pool));

    /// <summary>
    /// A new, empty, private (0700) mount point for device <paramref name="deviceId"/>, named
    /// <c>&lt;id&gt;-&lt;pid&gt;-&lt;start ticks&gt;-&lt;random&gt;</c>: the name says which process mounted it,
    /// so a mount left by a process that died can be told from one in use (<see cref="IsOrphanedMountPoint"/>).
    /// </summary>
    public static string NewMountPoint(string storeRoot, string pool, int deviceId)
    {
        CreatePrivateDirectory(Path.Combine(storeRoot, "mounts"));
        var parent = MountsDirectory(storeRoot, pool);
        CreatePrivateDirectory(parent);
        var self = ProcessIdentity.Current;
        var path = Path.Combine(parent, string.Create(CultureInfo.InvariantCulture,
            $"{deviceId}-{self.Pid}-{self.StartTicks}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant()}"));
        Directory.CreateDirectory(path);
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(path, Private);
        }

        return path;
    }

    /// <summary>
    /// Whether <paramref name="name"/> is a mount point of device <paramref name="deviceId"/> made by a
    /// process of this boot that no longer runs (mounts do not outlive a reboot, so the pid and its start
    /// time say it all). A name in any other form is never judged orphaned.
    /// </summary>
    public static bool IsOrphanedMountPoint(string name, int deviceId)
    {
        var parts = name.Split('-');
        return parts.Length == 4
            && parts[0] == deviceId.ToString(CultureInfo.InvariantCulture)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            && ProcessIdentity.StartTicksOf(pid) != ticks;
    }

    /// <summary>Creates <paramref name="path"/> (and parents) and makes it 0700; returns its canonical path.</summary>
    public static string CreatePrivateDirectory(string path)
    {
        Directory.CreateDirectory(path);
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(path, Private);
        }

        return Native.Libc.Pools.RealPath(path) ?? Path.GetFullPath(path);
    }

    /// <summary>Creates a new file (never an existing one) readable and writable by the owner only.</summary>
    public static FileStream CreateNewPrivateFile(string path)
    {
        var o = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (OperatingSystem.IsLinux())
        {
            o.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(path, o);
    }
}
