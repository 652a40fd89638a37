using System.Globalization;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Native;
using FlyImages.Operations;
using FlyImages.ThinPools.BlockFile;

namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>
/// A devicemapper thin-pool driven through the control device (<see cref="DmControl"/>): <c>create_thin</c>/<c>create_snap</c>/<c>delete</c>
/// messages to the pool, one dm table per active device named <c>flyimages-&lt;pool&gt;-&lt;id&gt;</c>.
/// Pools FlyImages made are loop-backed files under the store and are re-created after a reboot;
/// adopted pools are used as they are.
/// </summary>
internal sealed class DeviceMapperDriver : IThinPoolDriver
{
    private const string SysBlock = "/sys/block";

    private readonly ThinPoolRecord record;
    private readonly ThinPoolOptions options;
    private readonly DmControl dm;
    private readonly string poolDm;
    private bool discardPathReported;

    public DeviceMapperDriver(ThinPoolRecord record, ThinPoolOptions options)
    {
        this.record = record;
        this.options = options;
        dm = new DmControl(options.CommandTimeout);
        poolDm = record.DmName ?? record.Name;
    }

    public ThinPoolBackend Backend => ThinPoolBackend.DeviceMapper;

    public async Task<bool> IsReadyAsync(CancellationToken cancellationToken) => await ReadyTableAsync(cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>The pool's table when the pool is usable as is (one ioctl); null when it is not present.</summary>
    private async Task<DmThinPoolTable?> ReadyTableAsync(CancellationToken cancellationToken)
    {
        var table = await ReadTableAsync(dm, poolDm, cancellationToken).ConfigureAwait(false);
        if (table is null)
        {
            return null;
        }

        // a pool FlyImages made must still be the one on its own data file (not another pool that took the name)
        if (record.Owned && record.DataPath is not null && BackingFileOf(table.DataDevice) is { } backing
            && backing != (Native.Libc.Pools.RealPath(record.DataPath) ?? record.DataPath))
        {
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.InvalidOperation,
                $"The dm device '{poolDm}' is a thin-pool on '{backing}', not on this pool's data file '{record.DataPath}'.", record.Name);
        }

        return table;
    }

    /// <summary>The backing file of a loop device given as major:minor (null when it is not a loop device).</summary>
    private static string? BackingFileOf(string device)
    {
        foreach (var loop in LoopDevices.List())
        {
            if (LoopDevices.DeviceNumber(loop.Name) is { } n && $"{n.Major}:{n.Minor}" == device)
            {
                return loop.BackingFile;
            }
        }

        return null;
    }

    public async Task EnsureReadyAsync(IOperationContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (await ReadyTableAsync(cancellationToken).ConfigureAwait(false) is { } table)
        {
            if (!table.ErrorsWhenFull)
            {
                context.WriteWarning($"The devicemapper thin-pool '{poolDm}' of pool '{record.Name}' has no 'error_if_no_space' feature: when it runs out of data space the kernel queues writes instead of failing them, and an install can hang until the pool is grown. Re-create the pool with 'error_if_no_space' in its table (dmsetup reload), or replace it.");
            }

            return;
        }

        if (!record.Owned || record.DataPath is null || record.MetadataPath is null)
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable,
                $"The devicemapper pool '{poolDm}' is not present, and FlyImages did not make it (it was adopted), so it cannot re-create it.", record.Name)
            {
                RecommendedAction = $"Re-create '{poolDm}' with the setup that made it, then run Initialize-FlyThinPool -Name {record.Name}.",
            };
        }

        context.WriteVerbose($"Pool '{record.Name}': re-attaching '{record.DataPath}' and '{record.MetadataPath}' and re-creating the pool table.");
        await CreatePoolTableAsync(dm, poolDm, record.DataPath, record.MetadataPath, record.DataSize, record.BlockSize, options.CommandTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Attaches the files (found by backing file first) and creates the thin-pool table. Existing metadata is kept.
    /// The table has the feature <c>error_if_no_space</c>: a full pool fails writes at once (the writer sees
    /// EIO and the install fails with PoolFull) instead of queueing them until the pool grows.
    /// </summary>
    internal static async Task CreatePoolTableAsync(DmControl dm, string poolDm, string dataFile, string metadataFile, long dataSize, long blockSize, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var metadata = await LoopDevices.FindOrAttachAsync(metadataFile, timeout, cancellationToken).ConfigureAwait(false);
        var data = await LoopDevices.FindOrAttachAsync(dataFile, timeout, cancellationToken).ConfigureAwait(false);
        var parameters = string.Create(CultureInfo.InvariantCulture,
            $"{metadata.Path} {data.Path} {blockSize / 512} {ThinPoolSizing.LowWaterMark(dataSize, blockSize)} 1 {DmThinPoolTable.ErrorIfNoSpace}");
        await dm.CreateAsync(poolDm, [new DmTarget(0, dataSize / 512, "thin-pool", parameters)], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The thin-pool table of <paramref name="name"/>; null when no such dm device exists; ThinPoolConflict when it is not a thin-pool.</summary>
    internal static async Task<DmThinPoolTable?> ReadTableAsync(DmControl dm, string name, CancellationToken cancellationToken)
    {
        string output;
        try
        {
            output = DmTarget.Text(await dm.TableAsync(name, cancellationToken).ConfigureAwait(false));
        }
        catch (DeviceMapperException e) when (e.Errno is DmErrno.NoDeviceOrAddress)
        {
            return null;
        }

        return DmThinPoolTable.TryParse(output) ?? throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.InvalidOperation,
            $"The dm device '{name}' exists but is not a thin-pool: {output.Trim()}", name);
    }

    public Task CreateThinAsync(int deviceId, long size, CancellationToken cancellationToken) => MessageCreateAsync(deviceId, $"create_thin {Id(deviceId)}", cancellationToken);

    public Task CreateSnapshotAsync(int deviceId, int originId, long size, IOperationContext context) => MessageCreateAsync(deviceId, $"create_snap {Id(deviceId)} {Id(originId)}", context.CancellationToken);

    public Task<bool> IsActiveAsync(int deviceId, CancellationToken cancellationToken) => Task.FromResult(FindActive(DeviceName(deviceId)) is not null);

    public async Task<string> ActivateAsync(int deviceId, long size, CancellationToken cancellationToken)
    {
        var name = DeviceName(deviceId);
        if (FindActive(name) is null)
        {
            var pool = await PoolDeviceNumberAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await dm.CreateAsync(name, [new DmTarget(0, size / 512, "thin", $"{pool} {Id(deviceId)}")], cancellationToken).ConfigureAwait(false);
            }
            catch (DeviceMapperException e) when (e.Errno == DmErrno.Exists && FindActive(name) is not null)
            {
                // activated by another process since it was looked for
            }
        }

        var path = Path.Combine(DmControl.MapperDirectory, name);
        if (Native.Libc.FileType(path) != Native.Libc.S_IFBLK)
        {
            await dm.SyncNodeAsync(name, cancellationToken).ConfigureAwait(false);
        }

        return path;
    }

    public async Task DeactivateAsync(int deviceId, CancellationToken cancellationToken)
    {
        var name = DeviceName(deviceId);
        if (FindActive(name) is { } sys)
        {
            if (IsSuspended(sys))
            {
                await dm.ResumeAsync(name, CancellationToken.None).ConfigureAwait(false);
            }

            try
            {
                await dm.RemoveAsync(name, cancellationToken).ConfigureAwait(false);
            }
            catch (DeviceMapperException e) when (e.Errno == DmErrno.NoDeviceOrAddress)
            {
                // already gone
            }
        }

        await RemoveStaleNodeAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A /dev/mapper node left behind for a device the kernel no longer has (e.g. when the device went away through
    /// another path, or a remove by another tool without udev): the node is brought in line with the kernel, so a
    /// block node that still stands for a gone device is unlinked. Only our own name under /dev/mapper is touched.
    /// </summary>
    private async Task RemoveStaleNodeAsync(string name, CancellationToken cancellationToken)
    {
        if (Native.Libc.FileType(Path.Combine(DmControl.MapperDirectory, name)) is null || FindActive(name) is not null)
        {
            return;
        }

        await dm.SyncNodeAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The one way a thin device leaves the pool: activated if it is not, its whole range discarded
    /// (<see cref="BlockDiscard"/>, as containerd's discard_blocks: the pool frees its blocks and a loop-backed
    /// data device gives them back to its file), deactivated, then deleted from the pool's metadata. A discard
    /// that fails is a warning, never a failure of the deletion.
    /// </summary>
    public async Task DeleteAsync(int deviceId, long size, IOperationContext context)
    {
        var cancellationToken = context.CancellationToken;
        await DiscardAsync(deviceId, size, context).ConfigureAwait(false);
        await DeactivateAsync(deviceId, cancellationToken).ConfigureAwait(false);
        try
        {
            await dm.MessageAsync(poolDm, $"delete {Id(deviceId)}", DeviceName(deviceId), cancellationToken).ConfigureAwait(false);
        }
        catch (DeviceMapperException e) when (e.Errno == DmErrno.NoData)
        {
            // already gone
        }
    }

    private async Task DiscardAsync(int deviceId, long size, IOperationContext context)
    {
        var cancellationToken = context.CancellationToken;
        var name = DeviceName(deviceId);
        try
        {
            if (await PoolModeAsync(cancellationToken).ConfigureAwait(false) is { } mode and not ThinPoolMode.ReadWrite and not ThinPoolMode.OutOfDataSpace)
            {
                context.WriteVerbose($"Pool '{record.Name}': device {deviceId} is deleted without a discard: the pool is in mode {mode}.");
                return;
            }

            await ReportDiscardPathAsync(context).ConfigureAwait(false);
            var path = await ActivateAsync(deviceId, size, cancellationToken).ConfigureAwait(false);
            var bytes = BlockDiscard.DiscardAll(path);
            context.WriteVerbose($"Pool '{record.Name}': discarded {ByteSize.Format(bytes)} of device {deviceId} before deleting it.");
        }
        catch (Exception e) when (e is IOException or FlyException && !cancellationToken.IsCancellationRequested)
        {
            context.WriteWarning($"Pool '{record.Name}': device {deviceId} ('{name}') could not be discarded before it is deleted, so the pool's data file may keep its blocks allocated: {e.Message}");
        }
    }

    /// <summary>The pool's mode from its status; null when it cannot be read (the discard then tries anyway).</summary>
    private async Task<ThinPoolMode?> PoolModeAsync(CancellationToken cancellationToken)
    {
        try
        {
            return DmThinPoolStatus.Parse(DmTarget.Text(await dm.StatusAsync(poolDm, cancellationToken).ConfigureAwait(false))).Mode;
        }
        catch (Exception e) when (e is DeviceMapperException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// Once per driver: says (verbose) when a discard cannot reach the data device's backing file: the pool
    /// table ignores discards or does not pass them down, or the loop device under it takes none.
    /// </summary>
    private async Task ReportDiscardPathAsync(IOperationContext context)
    {
        if (discardPathReported)
        {
            return;
        }

        discardPathReported = true;
        if (await ReadTableAsync(dm, poolDm, context.CancellationToken).ConfigureAwait(false) is not { } table)
        {
            return;
        }

        foreach (var feature in table.Features.Where(f => f is "ignore_discard" or "no_discard_passdown"))
        {
            context.WriteVerbose($"Pool '{record.Name}': the thin-pool table of '{poolDm}' has '{feature}': a deleted device's blocks return to the pool but not to its data device's backing file.");
        }

        foreach (var loop in LoopDevices.List())
        {
            if (LoopDevices.DeviceNumber(loop.Name) is { } n && $"{n.Major}:{n.Minor}" == table.DataDevice && BlockDiscard.LoopTakesDiscards(loop.Name) == false)
            {
                context.WriteVerbose($"Pool '{record.Name}': the data loop device '{loop.Name}' takes no discards (/sys/block/{loop.Name}/queue/discard_max_bytes is 0; the filesystem of '{loop.BackingFile}' cannot punch holes): deleted devices leave its file allocated.");
            }
        }
    }

    public Task SuspendAsync(int deviceId, CancellationToken cancellationToken) => dm.SuspendAsync(DeviceName(deviceId), cancellationToken);

    public async Task ResumeAsync(int deviceId, CancellationToken cancellationToken)
    {
        var name = DeviceName(deviceId);
        if (FindActive(name) is { } sys && IsSuspended(sys))
        {
            await dm.ResumeAsync(name, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<PoolUsage> GetUsageAsync(CancellationToken cancellationToken)
    {
        string output;
        try
        {
            output = DmTarget.Text(await dm.StatusAsync(poolDm, cancellationToken).ConfigureAwait(false));
        }
        catch (DeviceMapperException e) when (e.Errno is DmErrno.NoDeviceOrAddress)
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"The devicemapper pool '{poolDm}' is not present.", record.Name, e);
        }

        DmThinPoolStatus status;
        try
        {
            status = DmThinPoolStatus.Parse(output);
        }
        catch (FormatException e)
        {
            throw new FlyException(ErrorIds.DeviceMapperFailed, FlyErrorCategory.InvalidResult, $"The status of '{poolDm}' cannot be read: {e.Message}", record.Name, e);
        }

        return new PoolUsage(status.Mode, status.TransactionId,
            status.DataUsedBlocks * record.BlockSize, status.DataTotalBlocks * record.BlockSize,
            status.MetadataUsedBlocks * DmThinPoolStatus.MetadataBlockSize, status.MetadataTotalBlocks * DmThinPoolStatus.MetadataBlockSize,
            status.Mode == ThinPoolMode.ReadWrite ? null : status.Line);
    }

    public async Task<PoolInventory> GetInventoryAsync(CancellationToken cancellationToken)
    {
        var devices = ActiveDevices().ToList();
        var active = new HashSet<int>();
        foreach (var (name, _) in devices)
        {
            if (ThinPoolNames.ParseDmDeviceName(record.Name, name) is { } id)
            {
                active.Add(id);
            }
        }

        // thin devices of this pool that are not ours by name; every device with a table on the pool holds it
        // (sysfs holders), so only when one of them is not ours are the thin tables read (one ioctl per dm device
        // on the host) at every pool open: each snapshot, install and removal
        var foreign = new List<string>();
        if (!HeldByOthers(devices))
        {
            return new PoolInventory(active, null, foreign);
        }

        var pool = await PoolDeviceNumberAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (name, target) in await dm.TargetsOfTypeAsync("thin", cancellationToken).ConfigureAwait(false))
        {
            var f = target.Parameters.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 2 && f[0] == pool && ThinPoolNames.ParseDmDeviceName(record.Name, name) is null)
            {
                foreign.Add($"dm device '{name}' uses thin id {f[1]} of the pool");
            }
        }

        return new PoolInventory(active, null, foreign);
    }

    public async Task DestroyAsync(CancellationToken cancellationToken)
    {
        if (!record.Owned)
        {
            return; // an adopted pool is not ours to remove
        }

        try
        {
            await dm.RemoveAsync(poolDm, cancellationToken).ConfigureAwait(false);
        }
        catch (DeviceMapperException e) when (e.Errno is DmErrno.NoDeviceOrAddress)
        {
        }

        foreach (var file in new[] { record.DataPath, record.MetadataPath })
        {
            if (file is null)
            {
                continue;
            }

            foreach (var loop in LoopDevices.FindByBackingFile(file))
            {
                await LoopDevices.DetachAsync(loop, cancellationToken).ConfigureAwait(false);
            }

            File.Delete(file);
        }
    }

    private async Task MessageCreateAsync(int deviceId, string message, CancellationToken cancellationToken)
    {
        try
        {
            await dm.MessageAsync(poolDm, message, DeviceName(deviceId), cancellationToken).ConfigureAwait(false);
        }
        catch (DeviceMapperException e) when (e.Errno == DmErrno.Exists)
        {
            throw new ThinDeviceIdTakenException(deviceId, e.Message);
        }
    }

    private async Task<string> PoolDeviceNumberAsync(CancellationToken cancellationToken)
    {
        if (ActiveDevices().FirstOrDefault(d => d.Name == poolDm) is { Name: not null } found)
        {
            var dev = File.ReadAllText(Path.Combine(found.SysPath, "dev")).Trim();
            if (dev.Length > 0)
            {
                return dev;
            }
        }

        return await dm.InfoAsync(poolDm, cancellationToken).ConfigureAwait(false) is { } info
            ? info.Device
            : throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"The devicemapper pool '{poolDm}' is not present.", record.Name);
    }

    private string DeviceName(int deviceId) => ThinPoolNames.DmDeviceName(record.Name, deviceId);

    private static string Id(int deviceId) => deviceId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Active dm devices (name, sysfs folder), read from /sys/block/dm-*/dm/name.</summary>
    private static IEnumerable<(string Name, string SysPath)> ActiveDevices()
    {
        if (!Directory.Exists(SysBlock))
        {
            yield break;
        }

        foreach (var dir in Directory.EnumerateDirectories(SysBlock, "dm-*"))
        {
            string? name = null;
            try
            {
                name = File.ReadAllText(Path.Combine(dir, "dm", "name")).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }

            if (!string.IsNullOrEmpty(name))
            {
                yield return (name, dir);
            }
        }
    }

    /// <summary>
    /// Whether a dm device whose name is not one of this pool's holds the pool device (/sys/block/dm-N/holders); true
    /// when that cannot be read (the caller then reads the thin tables, as without sysfs).
    /// </summary>
    private bool HeldByOthers(List<(string Name, string SysPath)> devices)
    {
        var poolPath = devices.Where(d => d.Name == poolDm).Select(d => d.SysPath).FirstOrDefault();
        var holders = poolPath is null ? null : Path.Combine(poolPath, "holders");
        if (holders is null || !Directory.Exists(holders))
        {
            return true;
        }

        try
        {
            foreach (var holder in Directory.EnumerateFileSystemEntries(holders))
            {
                var node = Path.GetFileName(holder);
                var name = devices.Where(d => Path.GetFileName(d.SysPath) == node).Select(d => d.Name).FirstOrDefault();
                if (name is null || ThinPoolNames.ParseDmDeviceName(record.Name, name) is null)
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true;
        }

        return false;
    }

    private static string? FindActive(string name) => ActiveDevices().Where(d => d.Name == name).Select(d => d.SysPath).FirstOrDefault();

    private static bool IsSuspended(string sysPath)
    {
        try
        {
            return File.ReadAllText(Path.Combine(sysPath, "dm", "suspended")).Trim() == "1";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
