using System.Collections.Concurrent;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools.BlockFile;
using FlyImages.ThinPools.DeviceMapper;

namespace FlyImages.ThinPools;

/// <summary>
/// Makes, adopts, opens, lists and removes the thin pools of a store. Open a pool once per piece of
/// work; the first open of a pool in a process reconciles it (re-activates what a reboot
/// deactivated, resumes what a crash left suspended, marks half-made devices Faulty).
/// </summary>
/// <example><code>
/// var pool = await ThinPoolManager.OpenDefaultAsync(store, context);
/// var baseDevice = await pool.CreateThinAsync("base", 1L &lt;&lt; 30);
/// await pool.ActivateAsync("base");
/// await pool.FormatExt4Async("base");
/// await using (var mount = await pool.MountAsync("base")) { /* unpack into mount.Path */ }
/// await pool.CreateSnapshotAsync("image:golang", "base");
/// </code></example>
public static class ThinPoolManager
{
    private static readonly ConcurrentDictionary<string, bool> Reconciled = new(StringComparer.Ordinal);

    /// <summary>Whether this kernel has device-mapper (what Auto chooses by).</summary>
    public static bool DeviceMapperAvailable => DeviceMapperProbe.IsAvailable();

    /// <summary>The pools the store records, by name.</summary>
    public static IReadOnlyList<ThinPoolRecord> List(FlyStore store) => new ThinPoolRepository(store).ListPools();

    /// <summary>
    /// Makes the pool <paramref name="spec"/> describes, or brings an existing one back: a recorded pool
    /// is re-attached and its table re-created after a reboot (its sizes are left alone); a
    /// devicemapper thin-pool of that name that the store does not record is adopted unchanged.
    /// Returns null when ShouldProcess declined (-WhatIf).
    /// </summary>
    public static async Task<IThinPool?> InitializeAsync(FlyStore store, ThinPoolSpec spec, IOperationContext context, ThinPoolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(spec);
        options ??= ThinPoolOptions.Default;
        var name = ThinPoolNames.ValidatePool(spec.Name);
        var blockSize = ThinPoolSizing.ValidateBlockSize(spec.BlockSize ?? ThinPoolSpec.DefaultBlockSize);
        var floor = ThinPoolSizing.ValidateFloor(spec.FreeSpaceFloorPercent ?? ThinPoolSpec.DefaultFloorPercent);
        var repository = new ThinPoolRepository(store);
        var ct = context.CancellationToken;

        // one Initialize at a time per store, across processes: two making the same pool at once would
        // each clean up the other's files when the loser's record insert fails
        using var initializing = await PoolLock.AcquireAsync(Path.Combine(store.RootPath, "pools", ".initialize.lock"), ct).ConfigureAwait(false);
        var existing = repository.FindPool(name);
        if (existing is not null)
        {
            return await ReinitializeAsync(repository, existing, spec, context, options).ConfigureAwait(false);
        }

        var backend = ChooseBackend(spec.Backend, context);
        var dataSize = ThinPoolSizing.ValidateDataSize(spec.DataSize ?? ThinPoolSpec.DefaultDataSize, blockSize);
        ThinPoolRecord record;
        if (backend == ThinPoolBackend.BlockFile)
        {
            var devices = ThinPoolLayout.DevicesDirectory(store.RootPath, name);
            // probed once: a FICLONE between two scratch files in the store
            var hostReflinks = new Lazy<bool>(() => PoolFilesystem.SupportsReflink(store.RootPath));
            var image = WantsOwnFilesystem(spec.ReflinkFilesystem, hostReflinks, context) ? ThinPoolLayout.DataFile(store.RootPath, name) : null;
            if (!context.ShouldProcess($"thin pool '{name}'", image is null
                ? $"Create a block-file thin pool of {ByteSize.Format(dataSize)} in '{devices}'"
                : $"Create a block-file thin pool of {ByteSize.Format(dataSize)} on its own XFS filesystem (reflink) in the sparse file '{image}', mounted on '{devices}'"))
            {
                return null;
            }

            long overhead = 0;
            if (image is not null)
            {
                try
                {
                    (overhead, dataSize) = await PoolSizeReport.OwnFilesystemAsync(name, dataSize, context,
                        () => CreatePoolFilesystemAsync(store, name, image, dataSize, devices, options, ct)).ConfigureAwait(false);
                }
                catch (FlyException e) when (spec.ReflinkFilesystem is null && e.ErrorId != ErrorIds.ThinPoolConflict)
                {
                    context.WriteWarning($"Pool '{name}': its own reflink filesystem could not be made ({e.Message}); keeping the device images in a plain folder, where snapshots are copies.");
                    image = null;
                }
            }

            record = new ThinPoolRecord
            {
                Name = name,
                Backend = backend,
                DataPath = ThinPoolLayout.CreatePrivateDirectory(devices),
                FilesystemImage = image,
                BlockSize = blockSize,
                DataSize = dataSize,
                MetadataSize = overhead,
                FreeSpaceFloorPercent = floor,
                Owned = true,
            };
            if (image is null && !hostReflinks.Value)
            {
                context.WriteVerbose($"The filesystem holding '{devices}' cannot reflink: snapshots of pool '{name}' are sparse copies. A pool on its own reflink filesystem (-ReflinkFilesystem; needs mkfs.xfs) shares blocks instead.");
            }
            else if (image is not null)
            {
                context.WriteVerbose($"Pool '{name}' keeps its device images on its own XFS filesystem (reflink) in '{image}', mounted on '{record.DataPath}'.");
            }
        }
        else
        {
            var dm = new DmSetup(options.CommandTimeout);
            var table = await DeviceMapperDriver.ReadTableAsync(dm, name, ct).ConfigureAwait(false);
            if (table is not null)
            {
                if (!context.ShouldProcess($"thin pool '{name}'", "Adopt the existing devicemapper thin-pool (unchanged)"))
                {
                    return null;
                }

                record = await AdoptAsync(dm, name, table, floor, ct).ConfigureAwait(false);
                context.WriteVerbose($"Adopted the devicemapper thin-pool '{name}' ({ByteSize.Format(record.DataSize)} data, {ByteSize.Format(record.BlockSize)} blocks) unchanged.");
            }
            else
            {
                var metadataSize = ThinPoolSizing.ValidateMetadataSize(spec.MetadataSize ?? ThinPoolSizing.MetadataSizeFor(dataSize, blockSize));
                var folder = ThinPoolLayout.PoolDirectory(store.RootPath, name);
                if (!context.ShouldProcess($"thin pool '{name}'",
                    $"Create a devicemapper thin-pool of {ByteSize.Format(dataSize)} data, {ByteSize.Format(metadataSize)} metadata, {ByteSize.Format(blockSize)} blocks, backed by sparse files in '{folder}'"))
                {
                    return null;
                }

                record = await CreateDeviceMapperPoolAsync(store, dm, name, dataSize, metadataSize, blockSize, floor, options, ct).ConfigureAwait(false);
            }
        }

        try
        {
            record = repository.InsertPool(record, spec.MakeDefault);
        }
        catch
        {
            if (record.Owned)
            {
                await CreateDriver(repository, record, options, context).DestroyAsync(CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }

        return await OpenRecordAsync(repository, record, context, options, reconcile: true).ConfigureAwait(false);
    }

    /// <summary>Opens a recorded pool (making it ready after a reboot; reconciling on the first open in this process).</summary>
    public static Task<IThinPool> OpenAsync(FlyStore store, string name, IOperationContext context, ThinPoolOptions? options = null)
    {
        var repository = new ThinPoolRepository(store);
        var record = repository.FindPool(ThinPoolNames.ValidatePool(name)) ?? throw NotFound(store, name);
        return OpenRecordAsync(repository, record, context, options ?? ThinPoolOptions.Default, reconcile: false);
    }

    /// <summary>
    /// The store's default pool: the one Initialize-FlyThinPool made (or marked default), else a new
    /// pool with the defaults and -Backend Auto.
    /// </summary>
    public static async Task<IThinPool> OpenDefaultAsync(FlyStore store, IOperationContext context, ThinPoolOptions? options = null)
    {
        var repository = new ThinPoolRepository(store);
        var record = repository.FindDefaultPool();
        if (record is not null)
        {
            return await OpenRecordAsync(repository, record, context, options ?? ThinPoolOptions.Default, reconcile: false).ConfigureAwait(false);
        }

        return await InitializeAsync(store, new ThinPoolSpec { MakeDefault = true }, new AlwaysProceed(context), options).ConfigureAwait(false)
            ?? throw new InvalidOperationException("unreachable: the default pool was declined");
    }

    /// <summary>
    /// The status of a recorded pool without changing anything (no reconciliation, nothing re-attached):
    /// a pool that is not present reports mode Unavailable.
    /// </summary>
    public static Task<ThinPoolStatus> GetStatusAsync(FlyStore store, string name, IOperationContext context, ThinPoolOptions? options = null)
    {
        var repository = new ThinPoolRepository(store);
        var record = repository.FindPool(ThinPoolNames.ValidatePool(name)) ?? throw NotFound(store, name);
        options ??= ThinPoolOptions.Default;
        var pool = new ThinPool(repository, record, CreateDriver(repository, record, options, context), options, context);
        return pool.GetStatusAsync(context.CancellationToken);
    }

    /// <summary>
    /// Deletes every device of the pool, then the pool itself when FlyImages made it (an adopted pool is
    /// left in place), then its record. Returns false when ShouldProcess declined.
    /// </summary>
    public static async Task<bool> RemoveAsync(FlyStore store, string name, IOperationContext context, ThinPoolOptions? options = null)
    {
        var repository = new ThinPoolRepository(store);
        var record = repository.FindPool(ThinPoolNames.ValidatePool(name)) ?? throw NotFound(store, name);
        if (!context.ShouldProcess($"thin pool '{name}'", record.Owned ? "Delete all devices and remove the pool and its files" : "Delete all FlyImages devices and forget the adopted pool"))
        {
            return false;
        }

        options ??= ThinPoolOptions.Default;
        var pool = (ThinPool)await OpenRecordAsync(repository, record, context, options, reconcile: false).ConfigureAwait(false);
        foreach (var device in pool.ListDevices())
        {
            await pool.DeleteAsync(device.Name, context.CancellationToken).ConfigureAwait(false);
        }

        await pool.Driver.DestroyAsync(context.CancellationToken).ConfigureAwait(false);
        repository.DeletePool(name);
        Reconciled.TryRemove(Key(store, name), out _);
        var folder = ThinPoolLayout.PoolDirectory(store.RootPath, name);
        var mounts = ThinPoolLayout.MountsDirectory(store.RootPath, name);
        foreach (var dir in new[] { folder, mounts })
        {
            if (Directory.Exists(dir) && MountTable.Below(dir).Count == 0)
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        return true;
    }

    /// <summary>Forgets that pools were reconciled in this process (the next open reconciles again).</summary>
    internal static void ForgetReconciled() => Reconciled.Clear();

    private static async Task<IThinPool?> ReinitializeAsync(ThinPoolRepository repository, ThinPoolRecord existing, ThinPoolSpec spec, IOperationContext context, ThinPoolOptions options)
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

        var driver = CreateDriver(repository, existing, options, context);
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

        return await OpenRecordAsync(repository, existing, context, options, reconcile: true).ConfigureAwait(false);
    }

    private static async Task<IThinPool> OpenRecordAsync(ThinPoolRepository repository, ThinPoolRecord record, IOperationContext context, ThinPoolOptions options, bool reconcile)
    {
        var driver = CreateDriver(repository, record, options, context);
        var pool = new ThinPool(repository, record, driver, options, context);
        var key = Key(repository.Store, record.Name);
        if (reconcile || !Reconciled.ContainsKey(key))
        {
            // reconciliation makes the pool ready (re-attach, re-create) under the pool lock
            await pool.ReconcileAsync(context.CancellationToken).ConfigureAwait(false);
            Reconciled[key] = true;
        }

        return pool;
    }

    private static IThinPoolDriver CreateDriver(ThinPoolRepository repository, ThinPoolRecord record, ThinPoolOptions options, IOperationContext context) => record.Backend switch
    {
        ThinPoolBackend.DeviceMapper => new DeviceMapperDriver(record, options, context),
        _ => new BlockFileDriver(record, options, context, () => repository.TransactionId(record.Name)),
    };

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

    private static async Task<ThinPoolRecord> AdoptAsync(DmSetup dm, string name, DmThinPoolTable table, double floor, CancellationToken ct)
    {
        var status = DmThinPoolStatus.Parse(await dm.RunAsync(["status", name], name, ct).ConfigureAwait(false));
        return new ThinPoolRecord
        {
            Name = name,
            Backend = ThinPoolBackend.DeviceMapper,
            DmName = name,
            BlockSize = table.BlockSectors * 512,
            DataSize = table.LengthSectors * 512,
            MetadataSize = status.MetadataTotalBlocks * DmThinPoolStatus.MetadataBlockSize,
            FreeSpaceFloorPercent = floor,
            Owned = false,
        };
    }

    /// <summary>Whether a new block-file pool gets its own reflink filesystem (see <see cref="ThinPoolSpec.ReflinkFilesystem"/>).</summary>
    private static bool WantsOwnFilesystem(bool? asked, Lazy<bool> hostReflinks, IOperationContext context)
    {
        if (asked is { } explicitly)
        {
            return explicitly;
        }

        if (hostReflinks.Value)
        {
            return false; // the store's filesystem shares blocks itself
        }

        if (PoolFilesystem.Unavailable() is { } why)
        {
            context.WriteVerbose($"The store's filesystem cannot reflink, and a pool filesystem of its own is not possible here: {why}.");
            return false;
        }

        return true;
    }

    private static async Task<(long Overhead, long Capacity)> CreatePoolFilesystemAsync(FlyStore store, string name, string image, long dataSize, string devices, ThinPoolOptions options, CancellationToken ct)
    {
        ThinPoolLayout.CreatePrivateDirectory(ThinPoolLayout.PoolDirectory(store.RootPath, name));
        if (File.Exists(image) || (Directory.Exists(devices) && Directory.EnumerateFileSystemEntries(devices).Any()))
        {
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.ResourceExists,
                $"'{image}' or files in '{devices}' exist, but the store records no pool '{name}'; refusing to reuse or overwrite them.", name)
            {
                RecommendedAction = "Remove the files if they are not needed, or pick another -Name.",
            };
        }

        try
        {
            return await PoolFilesystem.CreateAsync(image, dataSize, devices, options.CommandTimeout, ct).ConfigureAwait(false);
        }
        catch
        {
            await PoolFilesystem.UnmountAsync(image, devices, CancellationToken.None).ConfigureAwait(false);
            File.Delete(image);
            throw;
        }
    }

    private static async Task<ThinPoolRecord> CreateDeviceMapperPoolAsync(FlyStore store, DmSetup dm, string name, long dataSize, long metadataSize, long blockSize, double floor, ThinPoolOptions options, CancellationToken ct)
    {
        ThinPoolLayout.CreatePrivateDirectory(ThinPoolLayout.PoolDirectory(store.RootPath, name));
        var dataFile = ThinPoolLayout.DataFile(store.RootPath, name);
        var metadataFile = ThinPoolLayout.MetadataFile(store.RootPath, name);
        if (File.Exists(dataFile) || File.Exists(metadataFile))
        {
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.ResourceExists,
                $"'{dataFile}' or '{metadataFile}' exists, but the store records no pool '{name}'; refusing to reuse or overwrite them.", name)
            {
                RecommendedAction = "Remove the files if they are not needed, or pick another -Name.",
            };
        }

        var record = new ThinPoolRecord
        {
            Name = name,
            Backend = ThinPoolBackend.DeviceMapper,
            DmName = name,
            DataPath = dataFile,
            MetadataPath = metadataFile,
            BlockSize = blockSize,
            DataSize = dataSize,
            MetadataSize = metadataSize,
            FreeSpaceFloorPercent = floor,
            Owned = true,
        };
        try
        {
            // sparse files: a new metadata device must read as zeros, which a new sparse file does
            foreach (var (file, size) in new[] { (metadataFile, metadataSize), (dataFile, dataSize) })
            {
                using var stream = ThinPoolLayout.CreateNewPrivateFile(file);
                stream.SetLength(size);
            }

            await DeviceMapperDriver.CreatePoolTableAsync(dm, name, dataFile, metadataFile, dataSize, blockSize, options.CommandTimeout, ct).ConfigureAwait(false);
        }
        catch
        {
            await new DeviceMapperDriver(record, options, NullOperationContext.Instance).DestroyAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return record;
    }

    internal static FlyException NotFound(FlyStore store, string name) => new(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound,
        $"The store '{store.RootPath}' records no thin pool named '{ThinPoolNames.Printable(name)}'.", name)
    {
        RecommendedAction = "Run Initialize-FlyThinPool first.",
    };

    private static string Key(FlyStore store, string name) => store.RootPath + "\n" + name;

    /// <summary>Passes everything through but approves state changes (the default pool is made on demand; a caller that asked already).</summary>
    internal sealed class AlwaysProceed(IOperationContext inner) : IOperationContext
    {
        public CancellationToken CancellationToken => inner.CancellationToken;

        public void WriteProgress(ProgressReport report) => inner.WriteProgress(report);

        public void WriteVerbose(string message) => inner.WriteVerbose(message);

        public void WriteWarning(string message) => inner.WriteWarning(message);

        public void WriteDebug(string message) => inner.WriteDebug(message);

        public bool ShouldProcess(string target, string action) => true;
    }
}
