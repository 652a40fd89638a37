using System.Collections.Concurrent;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools.BlockFile;
using FlyImages.ThinPools.DeviceMapper;

namespace FlyImages.ThinPools;

/// <summary>
/// The thin pools of one store: makes, adopts, opens, lists and removes them. Each backend's pools are
/// made by its factory (<see cref="IThinPoolBackend"/>: <see cref="DeviceMapperPools"/>,
/// <see cref="BlockFilePools"/>); the catalog records them and owns what it reconciled: the first open of
/// a pool through a catalog reconciles it (re-activates what a reboot deactivated, resumes what a crash
/// left suspended, marks half-made devices Faulty). Keep one catalog per store you work in.
/// Only <see cref="InitializeAsync"/> and <see cref="OpenOrCreateDefaultAsync"/> make a pool; every
/// other call on a store without one fails with ThinPoolNotFound and leaves no pool.
/// </summary>
/// <example><code>
/// var pools = new ThinPoolCatalog(store);
/// var pool = await pools.OpenDefaultAsync(context);
/// var baseDevice = await pool.CreateThinAsync("base", 1L &lt;&lt; 30, context);
/// await pool.ActivateAsync("base", context);
/// await pool.FormatExt4Async("base", context);
/// await using (var mount = await pool.MountAsync("base", readOnly: false, context)) { /* unpack into mount.Path */ }
/// await pool.CreateSnapshotAsync("image:golang", "base", context);
/// </code></example>
public sealed class ThinPoolCatalog
{
    private readonly ThinPoolRepository repository;
    private readonly ThinPoolOptions options;
    private readonly IReadOnlyDictionary<ThinPoolBackend, IThinPoolBackend> backends;
    private readonly ConcurrentDictionary<string, bool> reconciled = new(StringComparer.Ordinal);

    public ThinPoolCatalog(FlyStore store, ThinPoolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        Store = store;
        this.options = options ?? ThinPoolOptions.Default;
        repository = new ThinPoolRepository(store);
        backends = new IThinPoolBackend[] { new DeviceMapperPools(this.options), new BlockFilePools(this.options) }.ToDictionary(b => b.Backend);
    }

    /// <summary>Whether this kernel has device-mapper (what Auto chooses by).</summary>
    public static bool DeviceMapperAvailable => DeviceMapperProbe.IsAvailable();

    public FlyStore Store { get; }

    /// <summary>The pools the store records, by name.</summary>
    public IReadOnlyList<ThinPoolRecord> List() => repository.ListPools();

    /// <summary>
    /// Makes the pool <paramref name="spec"/> describes, or brings an existing one back: a recorded pool
    /// is re-attached and its table re-created after a reboot (its sizes are left alone); a
    /// devicemapper thin-pool of that name that the store does not record is adopted unchanged.
    /// Returns null when ShouldProcess declined (-WhatIf).
    /// </summary>
    public async Task<IThinPool?> InitializeAsync(ThinPoolSpec spec, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(context);
        var name = ThinPoolNames.ValidatePool(spec.Name);
        var blockSize = ThinPoolSizing.ValidateBlockSize(spec.BlockSize ?? ThinPoolSpec.DefaultBlockSize);
        var floor = ThinPoolSizing.ValidateFloor(spec.FreeSpaceFloorPercent ?? ThinPoolSpec.DefaultFloorPercent);

        // one Initialize at a time per store, across processes: two making the same pool at once would
        // each clean up the other's files when the loser's record insert fails
        using var initializing = await PoolLock.AcquireAsync(Path.Combine(Store.RootPath, "pools", ".initialize.lock"), context.CancellationToken).ConfigureAwait(false);
        var existing = repository.FindPool(name);
        if (existing is not null)
        {
            return await ReinitializeAsync(existing, spec, context).ConfigureAwait(false);
        }

        var backend = backends[ChooseBackend(spec.Backend, context)];
        var dataSize = ThinPoolSizing.ValidateDataSize(spec.DataSize ?? ThinPoolSpec.DefaultDataSize, blockSize);
        var record = await backend.CreateAsync(new NewThinPool(Store.RootPath, name, spec, dataSize, blockSize, floor), context).ConfigureAwait(false);
        if (record is null)
        {
            return null;
        }

        try
        {
            record = repository.InsertPool(record, spec.MakeDefault);
        }
        catch
        {
            if (record.Owned)
            {
                await backend.OpenDriver(record, repository).DestroyAsync(CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }

        return await OpenRecordAsync(record, context, reconcile: true).ConfigureAwait(false);
    }

    /// <summary>Opens a recorded pool (making it ready after a reboot; reconciling on its first open through this catalog). ThinPoolNotFound when the store has none of that name.</summary>
    public Task<IThinPool> OpenAsync(string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var record = repository.FindPool(ThinPoolNames.ValidatePool(name)) ?? throw NotFound(Store.RootPath, name);
        return OpenRecordAsync(record, context, reconcile: false);
    }

    /// <summary>The store's default pool (the one Initialize-FlyThinPool or the first install made). Never makes one: ThinPoolNotFound when the store has none.</summary>
    public Task<IThinPool> OpenDefaultAsync(IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var record = repository.FindDefaultPool() ?? throw NoDefault(Store.RootPath);
        return OpenRecordAsync(record, context, reconcile: false);
    }

    /// <summary>
    /// The store's default pool, made now with the defaults and -Backend Auto when the store has none
    /// (Install-FlyImage's pool; the only caller besides Initialize that may make one).
    /// </summary>
    public async Task<IThinPool> OpenOrCreateDefaultAsync(IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (repository.FindDefaultPool() is { } record)
        {
            return await OpenRecordAsync(record, context, reconcile: false).ConfigureAwait(false);
        }

        return await InitializeAsync(new ThinPoolSpec { MakeDefault = true }, new ApprovingContext(context)).ConfigureAwait(false)
            ?? throw new InvalidOperationException("unreachable: the default pool was declined");
    }

    /// <summary>
    /// The status of a recorded pool without changing anything (no reconciliation, nothing re-attached):
    /// a pool that is not present reports mode Unavailable.
    /// </summary>
    public Task<ThinPoolStatus> GetStatusAsync(string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var record = repository.FindPool(ThinPoolNames.ValidatePool(name)) ?? throw NotFound(Store.RootPath, name);
        return Create(record).GetStatusAsync(context);
    }

    /// <summary>
    /// Deletes every device of the pool (a devicemapper pool FlyImages made: deactivates them, as its metadata
    /// file goes with it, so a read-only pool can be torn down), then the pool itself when FlyImages made it (an
    /// adopted pool is left in place), then its record. Returns false when ShouldProcess declined.
    /// </summary>
    public async Task<bool> RemoveAsync(string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var record = repository.FindPool(ThinPoolNames.ValidatePool(name)) ?? throw NotFound(Store.RootPath, name);
        if (!context.ShouldProcess($"thin pool '{name}'", record.Owned ? "Delete all devices and remove the pool and its files" : "Delete all FlyImages devices and forget the adopted pool"))
        {
            return false;
        }

        var pool = (ThinPool)await OpenRecordAsync(record, context, reconcile: false).ConfigureAwait(false);
        // a devicemapper pool FlyImages made goes with its metadata file: its devices are only deactivated, which
        // also works when the pool went read-only (out of metadata space, needs_check), where deletes are refused
        var wholePoolGoes = record.Owned && record.Backend == ThinPoolBackend.DeviceMapper;
        foreach (var device in pool.ListDevices())
        {
            await (wholePoolGoes ? pool.DeactivateAsync(device.Name, context) : pool.DeleteAsync(device.Name, context)).ConfigureAwait(false);
        }

        if (wholePoolGoes)
        {
            context.WriteVerbose($"Pool '{name}': its devices were deactivated; they go with the pool's metadata file.");
        }

        await pool.Driver.DestroyAsync(context.CancellationToken).ConfigureAwait(false);
        repository.DeletePool(name);
        reconciled.TryRemove(name, out _);
        var folder = ThinPoolLayout.PoolDirectory(Store.RootPath, name);
        var mounts = ThinPoolLayout.MountsDirectory(Store.RootPath, name);
        foreach (var dir in new[] { folder, mounts })
        {
            if (Directory.Exists(dir) && MountTable.Below(dir).Count == 0)
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        return true;
    }

    /// <summary>Forgets which pools were reconciled (the next open through this catalog reconciles again).</summary>
    internal void ForgetReconciled() => reconciled.Clear();

    internal static FlyException NotFound(string storeRoot, string name) => new(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound,
        $"The store '{storeRoot}' records no thin pool named '{ThinPoolNames.Printable(name)}'.", name)
    {
        RecommendedAction = "Run Initialize-FlyThinPool first.",
    };

    private static FlyException NoDefault(string storeRoot) => new(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound,
        $"The store '{storeRoot}' has no thin pool yet, so nothing is installed in it.", storeRoot)
    {
        RecommendedAction = "Install the image first (Install-FlyImage makes the default pool), or run Initialize-FlyThinPool.",
    };

    private async Task<IThinPool?> ReinitializeAsync(ThinPoolRecord existing, ThinPoolSpec spec, IOperationContext context)
    {
        if (spec.Backend != ThinPoolBackendChoice.Auto && spec.Backend.ToString() != existing.Backend.ToString())
        {
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.InvalidOperation,
                $"The store already records pool '{existing.Name}' with backend {existing.Backend}, not {spec.Backend}.", existing.Name)
            {
                RecommendedAction = "Pick another -Name, or leave -Backend out to use the existing pool.",
            };
        }

        if ((spec.DataSize is { } d && d != existing.DataSize) || (spec.MetadataSize is { } m && m != existing.MetadataSize) || (spec.BlockSize is { } b && b != existing.BlockSize))
        {
            context.WriteWarning($"Pool '{existing.Name}' exists; it is left alone with its {ByteSize.Format(existing.DataSize)} data, {ByteSize.Format(existing.MetadataSize)} metadata and {ByteSize.Format(existing.BlockSize)} blocks.");
        }

        if (spec.ReflinkFilesystem == true && existing.FilesystemImage is null)
        {
            context.WriteWarning($"Pool '{existing.Name}' exists and keeps its device images in a plain folder; -ReflinkFilesystem applies to new pools only.");
        }

        var driver = backends[existing.Backend].OpenDriver(existing, repository);
        if (!await driver.IsReadyAsync(context.CancellationToken).ConfigureAwait(false)
            && !context.ShouldProcess($"thin pool '{existing.Name}'", "Re-attach the pool's files and re-create its table"))
        {
            return null;
        }

        if (spec.FreeSpaceFloorPercent is { } floor && Math.Abs(floor - existing.FreeSpaceFloorPercent) > 1e-9
            && context.ShouldProcess($"thin pool '{existing.Name}'", $"Set the free-space floor to {floor}%"))
        {
            repository.SetFloor(existing.Name, floor);
            existing = existing with { FreeSpaceFloorPercent = floor };
        }

        if (spec.MakeDefault && !existing.IsDefault && context.ShouldProcess($"thin pool '{existing.Name}'", "Make it the store's default pool"))
        {
            repository.SetDefault(existing.Name);
            existing = existing with { IsDefault = true };
        }

        return await OpenRecordAsync(existing, context, reconcile: true).ConfigureAwait(false);
    }

    private ThinPool Create(ThinPoolRecord record) => new(repository, record, backends[record.Backend].OpenDriver(record, repository), options);

    private async Task<IThinPool> OpenRecordAsync(ThinPoolRecord record, IOperationContext context, bool reconcile)
    {
        var pool = Create(record);
        if (reconcile || !reconciled.ContainsKey(record.Name))
        {
            // reconciliation makes the pool ready (re-attach, re-create) under the pool lock
            await pool.ReconcileAsync(context).ConfigureAwait(false);
            reconciled[record.Name] = true;
        }

        return pool;
    }

    private static ThinPoolBackend ChooseBackend(ThinPoolBackendChoice choice, IOperationContext context)
    {
        var hasDm = DeviceMapperProbe.IsAvailable();
        switch (choice)
        {
            case ThinPoolBackendChoice.DeviceMapper when !hasDm:
                throw new FlyException(ErrorIds.ThinPoolBackendUnavailable, FlyErrorCategory.NotInstalled,
                    "This kernel has no device-mapper (/proc/misc does not list it), so a DeviceMapper pool cannot be made.", choice)
                {
                    RecommendedAction = "Load dm-thin-pool (modprobe dm-thin-pool), or use -Backend BlockFile or Auto.",
                };
            case ThinPoolBackendChoice.DeviceMapper:
                return ThinPoolBackend.DeviceMapper;
            case ThinPoolBackendChoice.BlockFile:
                return ThinPoolBackend.BlockFile;
            default:
                if (hasDm)
                {
                    context.WriteVerbose("Backend Auto: the kernel has device-mapper; using a devicemapper thin-pool.");
                    return ThinPoolBackend.DeviceMapper;
                }

                context.WriteWarning("Backend Auto: this kernel has no device-mapper (/proc/misc does not list it); falling back to block files on loop devices.");
                return ThinPoolBackend.BlockFile;
        }
    }
}
