using System.Globalization;
using FlyImages.Operations;

namespace FlyImages.ThinPools;

/// <summary>A mount point below the store's mounts folder whose process (named in it) is gone.</summary>
/// <param name="Pool">The pool folder it is in (mounts/&lt;pool&gt;/).</param>
/// <param name="Path">Its canonical path.</param>
/// <param name="DeviceId">The device it was made for.</param>
/// <param name="Pid">The process that made it, which no longer runs.</param>
/// <param name="Mounted">Whether something is still mounted on it (else it is an empty folder).</param>
public sealed record OrphanedMountPoint(string Pool, string Path, int DeviceId, int Pid, bool Mounted);

/// <summary>
/// Mount points of every pool of a store left by processes that are gone (see <see cref="ThinPoolLayout.NewMountPoint"/> for
/// their names), and their release: what is mounted is unmounted, then the folder goes. A pool releases those of a device
/// when it deactivates it; a collection releases them all.
/// </summary>
public static class OrphanedMounts
{
    public static IReadOnlyList<OrphanedMountPoint> Find(string storeRoot)
    {
        var found = new List<OrphanedMountPoint>();
        if (Native.Libc.Pools.RealPath(Path.Combine(storeRoot, "mounts")) is not { } root || !Directory.Exists(root))
        {
            return found;
        }

        var mounted = MountTable.Below(root).ToHashSet(StringComparer.Ordinal);
        foreach (var poolFolder in Directory.EnumerateDirectories(root))
        {
            foreach (var point in Directory.EnumerateDirectories(poolFolder))
            {
                var name = Path.GetFileName(point);
                var parts = name.Split('-');
                if (parts.Length == 4 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var device)
                    && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    && ThinPoolLayout.IsOrphanedMountPoint(name, device))
                {
                    found.Add(new OrphanedMountPoint(Path.GetFileName(poolFolder), point, device, pid, mounted.Contains(point)));
                }
            }
        }

        return found;
    }

    /// <summary>Unmounts what is mounted on <paramref name="point"/> (EBUSY retried, bounded) and removes the folder.</summary>
    public static async Task ReleaseAsync(OrphanedMountPoint point, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(context);
        if (MountTable.IsMountPoint(point.Path))
        {
            await ThinMount.Adopt(point.Path, "", new ThinPoolOptions()).UnmountAsync(context).ConfigureAwait(false);
        }
        else
        {
            ThinMount.TryRemoveFolder(point.Path);
        }
    }
}
