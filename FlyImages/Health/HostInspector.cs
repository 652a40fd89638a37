using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.ThinPools.DeviceMapper;

namespace FlyImages.Health;

/// <summary>Reads what <see cref="FlyHost"/> says about this host. Reads only: never creates a store or re-attaches a pool.</summary>
public static class HostInspector
{
    /// <summary>
    /// Reads the host's facts and, when the store at <paramref name="storePath"/> exists, its schema version and
    /// pools. <paramref name="moduleVersion"/> and <paramref name="powerShellVersion"/> come from the caller (the core
    /// knows no PowerShell).
    /// </summary>
    public static async Task<FlyHost> ReadAsync(string storePath, string? moduleVersion, string? powerShellVersion, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var store = FlyStore.OpenExisting(storePath);
        var pools = new List<ThinPoolStatus>();
        if (store is not null)
        {
            foreach (var pool in new ThinPoolCatalog(store).List())
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                pools.Add(await new ThinPoolCatalog(store).GetStatusAsync(pool.Name, context).ConfigureAwait(false));
            }
        }

        var hasDeviceMapper = ThinPoolCatalog.DeviceMapperAvailable;
        return new FlyHost
        {
            ComputerName = HostFacts.ComputerName,
            MachineId = HostFacts.MachineId(),
            BootId = ProcessIdentity.Current.BootId,
            KernelRelease = HostFacts.KernelRelease(),
            DeviceMapperAvailable = hasDeviceMapper,
            DeviceMapperVersion = hasDeviceMapper ? DeviceMapperProbe.DriverVersion() : null,
            StorePath = store?.RootPath ?? Path.GetFullPath(storePath),
            StoreExists = store is not null,
            SchemaVersion = store?.SchemaVersion(),
            LatestSchemaVersion = FlyStore.LatestSchemaVersion,
            Pools = [.. pools],
            ModuleVersion = moduleVersion,
            PowerShellVersion = powerShellVersion,
            ReadAt = DateTimeOffset.UtcNow,
        };
    }
}
