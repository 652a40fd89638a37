using System.Globalization;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Resilience;

namespace FlyImages.ThinPools;

/// <summary>
/// The engine behind <see cref="IThinPool"/>: records, write-ahead states, the pool lock, bounded
/// busy retries and the free-space floor. The backend (<see cref="IThinPoolDriver"/>) only touches
/// the pool.
/// </summary>
internal sealed partial class ThinPool : IThinPool
{
    private const int MaxForeignIdSkips = 16;
    private const long MaxDeviceSize = 1L << 44; // 16 TiB

    private readonly ThinPoolRepository repository;
    private readonly IThinPoolDriver driver;
    private readonly ThinPoolOptions options;
    private readonly string lockPath;
    private readonly string storeRoot;

    internal ThinPool(ThinPoolRepository repository, ThinPoolRecord record, IThinPoolDriver driver, ThinPoolOptions options)
    {
        this.repository = repository;
        this.driver = driver;
        this.options = options;
        Record = record;
        storeRoot = repository.Store.RootPath;
        lockPath = ThinPoolLayout.LockPath(storeRoot, record.Name);
    }

    public string Name => Record.Name;

    public ThinPoolBackend Backend => Record.Backend;

    public ThinPoolRecord Record { get; }

    internal IThinPoolDriver Driver => driver;

    internal ThinPoolRepository Repository => repository;

    public IReadOnlyList<ThinDevice> ListDevices() => repository.ListDevices(Name);

    public ThinDevice? FindDevice(string name) => repository.FindDevice(Name, ThinPoolNames.ValidateDevice(name));

    public ThinDevice GetDevice(string name) => FindDevice(name)
        ?? throw new FlyException(ErrorIds.ThinDeviceNotFound, FlyErrorCategory.ObjectNotFound, $"Pool '{Name}' has no device named '{ThinPoolNames.Printable(name)}'.", name);

    public async Task<ThinDevice> CreateThinAsync(string name, long sizeBytes, IOperationContext context)
    {
        ValidateNewName(name);
        var size = ValidateSize(sizeBytes);
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        using var held = await LockAsync(ct).ConfigureAwait(false);
        await CheckFloorAsync(context).ConfigureAwait(false);
        var device = await CreateRecordedAsync(name, ThinDeviceKind.Thin, null, size, id => driver.CreateThinAsync(id, size, ct), context).ConfigureAwait(false);
        context.WriteVerbose($"Pool '{Name}': created thin device {device.DeviceId} '{name}' of {ByteSize.Format(size)}.");
        return device;
    }

    public async Task<ThinDevice> CreateSnapshotAsync(string name, string originName, IOperationContext context)
    {
        ValidateNewName(name);
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        using var held = await LockAsync(ct).ConfigureAwait(false);
        var origin = GetDevice(originName);
        if (origin.State is not (ThinDeviceState.Created or ThinDeviceState.Activated or ThinDeviceState.Deactivated))
        {
            throw StateInvalid(origin, "take a snapshot of");
        }

        await CheckFloorAsync(context).ConfigureAwait(false);
        var device = await CreateRecordedAsync(name, ThinDeviceKind.Snapshot, origin.DeviceId, origin.SizeBytes,
            id => SnapshotWithOriginSuspendedAsync(id, origin, context), context).ConfigureAwait(false);
        context.WriteVerbose($"Pool '{Name}': created snapshot {device.DeviceId} '{name}' of device {origin.DeviceId} '{origin.Name}'.");
        return device;
    }

    public async Task<string> ActivateAsync(string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        using var held = await LockAsync(ct).ConfigureAwait(false);
        var device = GetDevice(name);
        return await ActivateCoreAsync(device, context).ConfigureAwait(false);
    }

    public async Task DeactivateAsync(string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        using var held = await LockAsync(ct).ConfigureAwait(false);
        await DeactivateCoreAsync(GetDevice(name), context).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        using var held = await LockAsync(ct).ConfigureAwait(false);
        await DeleteCoreAsync(GetDevice(name), context).ConfigureAwait(false);
    }

    public async Task RenameAsync(string name, string newName, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        ThinPoolNames.ValidateDevice(newName);
        using var held = await LockAsync(context.CancellationToken).ConfigureAwait(false);
        var device = GetDevice(name);
        repository.RenameDevice(Name, device.DeviceId, newName);
        context.WriteVerbose($"Pool '{Name}': device {device.DeviceId} '{ThinPoolNames.Printable(name)}' is now '{ThinPoolNames.Printable(newName)}'.");
    }

    public async Task<ThinPoolStatus> GetStatusAsync(IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        PoolUsage usage;
        try
        {
            usage = await driver.GetUsageAsync(ct).ConfigureAwait(false);
        }
        catch (FlyException e) when (e.ErrorId is ErrorIds.ThinPoolUnavailable or ErrorIds.DeviceMapperFailed or ErrorIds.LoopDeviceFailed)
        {
            usage = new PoolUsage(ThinPoolMode.Unavailable, 0, 0, Record.DataSize, 0, Record.MetadataSize, e.Message);
        }

        return new ThinPoolStatus
        {
            Name = Name,
            Backend = Backend,
            Mode = usage.Mode,
            Storage = Backend == ThinPoolBackend.DeviceMapper ? "dm-thin" : Record.FilesystemImage is null ? "folder" : "own XFS",
            ModeDetail = usage.Detail,
            TransactionId = usage.TransactionId,
            DataUsedBytes = usage.DataUsed,
            DataTotalBytes = usage.DataTotal,
            MetadataUsedBytes = usage.MetadataUsed,
            MetadataTotalBytes = usage.MetadataTotal,
            BlockSizeBytes = Record.BlockSize,
            DeviceCount = repository.CountDevices(Name),
            FreeSpaceFloorPercent = FloorPercent,
            IsDefault = repository.FindPool(Name)?.IsDefault ?? Record.IsDefault,
        };
    }

    public async Task FormatExt4Async(string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        var path = await ActiveDevicePathAsync(name, context).ConfigureAwait(false);
        context.WriteVerbose($"Pool '{Name}': making ext4 on '{path}'.");
        await Ext4.FormatAsync(path, options.CommandTimeout, ct).ConfigureAwait(false);
    }

    public async Task<ThinMount> MountAsync(string name, bool readOnly, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var device = GetDevice(name);
        var path = await ActiveDevicePathAsync(name, context).ConfigureAwait(false);
        var folder = ThinPoolLayout.NewMountPoint(storeRoot, Name, device.DeviceId);
        return await ThinMount.MountAsync(path, folder, readOnly, options, context).ConfigureAwait(false);
    }

    internal double FloorPercent => options.FreeSpaceFloorPercent ?? Record.FreeSpaceFloorPercent;

    /// <summary>Takes the pool lock (for callers that combine steps, like tests simulating a crash).</summary>
    internal Task<PoolLock> LockAsync(CancellationToken cancellationToken) => PoolLock.AcquireAsync(lockPath, cancellationToken);

    private async Task<string> ActiveDevicePathAsync(string name, IOperationContext context)
    {
        var ct = context.CancellationToken;
        var device = GetDevice(name);
        if (device.State != ThinDeviceState.Activated || !await driver.IsActiveAsync(device.DeviceId, ct).ConfigureAwait(false))
        {
            throw new FlyException(ErrorIds.ThinDeviceStateInvalid, FlyErrorCategory.InvalidOperation,
                $"Device '{ThinPoolNames.Printable(name)}' of pool '{Name}' is not active (state {device.State}); activate it first.", name);
        }

        return await driver.ActivateAsync(device.DeviceId, device.SizeBytes, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the record (state Creating, id allocated in the same transaction), then asks the pool.
    /// An id the pool already holds (someone else's device in an adopted pool) is kept as a Faulty
    /// placeholder and another id is taken.
    /// </summary>
    private async Task<ThinDevice> CreateRecordedAsync(string name, ThinDeviceKind kind, int? originId, long size, Func<int, Task> make, IOperationContext context)
    {
        for (var attempt = 1; ; attempt++)
        {
            var device = repository.BeginCreate(Name, name, kind, originId, size);
            try
            {
                await make(device.DeviceId).ConfigureAwait(false);
            }
            catch (ThinDeviceIdTakenException taken) when (attempt < MaxForeignIdSkips)
            {
                repository.MarkForeign(Name, device.DeviceId, taken.Message);
                context.WriteWarning($"Pool '{Name}' already holds a device with id {device.DeviceId} that FlyImages did not make; the id is recorded as Faulty and skipped.");
                continue;
            }
            catch (Exception e)
            {
                repository.SetDetail(Name, device.DeviceId, Describe(e));
                throw Wrap(e, device, "create");
            }

            repository.SetState(Name, device.DeviceId, ThinDeviceState.Created);
            repository.BumpTransaction(Name);
            return repository.FindDevice(Name, device.DeviceId)!;
        }
    }

    /// <summary>Suspends an active origin around the snapshot and always resumes it (a device left suspended hangs all its I/O).</summary>
    private async Task SnapshotWithOriginSuspendedAsync(int deviceId, ThinDevice origin, IOperationContext context)
    {
        var ct = context.CancellationToken;
        var active = await driver.IsActiveAsync(origin.DeviceId, ct).ConfigureAwait(false);
        if (!active)
        {
            await driver.CreateSnapshotAsync(deviceId, origin.DeviceId, origin.SizeBytes, context).ConfigureAwait(false);
            return;
        }

        Exception? failure = null;
        try
        {
            await StepAsync(origin, ThinDeviceState.Suspending, () => driver.SuspendAsync(origin.DeviceId, ct), ThinDeviceState.Suspended).ConfigureAwait(false);
            await driver.CreateSnapshotAsync(deviceId, origin.DeviceId, origin.SizeBytes, context).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            try
            {
                // never cancelled: the origin must not stay suspended
                await StepAsync(origin, ThinDeviceState.Resuming, () => driver.ResumeAsync(origin.DeviceId, CancellationToken.None), ThinDeviceState.Activated).ConfigureAwait(false);
            }
            catch (Exception resumeFailure)
            {
                failure = failure is null ? resumeFailure : new AggregateException(failure, resumeFailure);
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
    }

    private async Task<string> ActivateCoreAsync(ThinDevice device, IOperationContext context)
    {
        var ct = context.CancellationToken;
        if (device.State is ThinDeviceState.Creating or ThinDeviceState.Removing or ThinDeviceState.Faulty)
        {
            throw StateInvalid(device, "activate");
        }

        if (device.State is ThinDeviceState.Suspending or ThinDeviceState.Suspended or ThinDeviceState.Resuming)
        {
            await StepAsync(device, ThinDeviceState.Resuming, () => driver.ResumeAsync(device.DeviceId, CancellationToken.None), ThinDeviceState.Activated).ConfigureAwait(false);
        }

        string path = "";
        await StepAsync(device, ThinDeviceState.Activating, async () => path = await driver.ActivateAsync(device.DeviceId, device.SizeBytes, ct).ConfigureAwait(false),
            ThinDeviceState.Activated, () => path).ConfigureAwait(false);
        return path;
    }

    /// <summary>Deactivates when live; the record ends Deactivated (Faulty records stay Faulty).</summary>
    private async Task DeactivateCoreAsync(ThinDevice device, IOperationContext context)
    {
        var ct = context.CancellationToken;
        var settled = device.State == ThinDeviceState.Faulty ? ThinDeviceState.Faulty : ThinDeviceState.Deactivated;
        if (device.State is ThinDeviceState.Suspending or ThinDeviceState.Suspended or ThinDeviceState.Resuming)
        {
            await StepAsync(device, ThinDeviceState.Resuming, () => driver.ResumeAsync(device.DeviceId, CancellationToken.None), ThinDeviceState.Activated).ConfigureAwait(false);
        }

        if (!await driver.IsActiveAsync(device.DeviceId, ct).ConfigureAwait(false))
        {
            if (device.State is ThinDeviceState.Activated or ThinDeviceState.Activating or ThinDeviceState.Deactivating or ThinDeviceState.Suspended
                or ThinDeviceState.Suspending or ThinDeviceState.Resuming || device.DevicePath is not null)
            {
                repository.SetState(Name, device.DeviceId, settled == ThinDeviceState.Faulty ? ThinDeviceState.Faulty : ThinDeviceState.Deactivated,
                    settled == ThinDeviceState.Faulty ? device.StateDetail : null, clearPath: true);
            }

            return;
        }

        await ReleaseOrphanedMountsAsync(device, context).ConfigureAwait(false);
        if (settled == ThinDeviceState.Faulty)
        {
            await RetryBusyAsync(() => driver.DeactivateAsync(device.DeviceId, ct), device, context).ConfigureAwait(false);
            repository.SetState(Name, device.DeviceId, ThinDeviceState.Faulty, device.StateDetail, clearPath: true);
            return;
        }

        await StepAsync(device, ThinDeviceState.Deactivating, () => RetryBusyAsync(() => driver.DeactivateAsync(device.DeviceId, ct), device, context),
            ThinDeviceState.Deactivated, clearPath: true).ConfigureAwait(false);
    }

    /// <summary>
    /// Unmounts what a dead process left mounted on this pool's private mount points of
    /// <paramref name="device"/>: a process killed while it had the device mounted leaves its mount behind,
    /// and the device could never be deactivated. A mount whose process still runs is left alone (the
    /// deactivation then fails as busy).
    /// </summary>
    private async Task ReleaseOrphanedMountsAsync(ThinDevice device, IOperationContext context)
    {
        // the mount table holds canonical paths; the store path may run through a symlink
        if (Native.Libc.Pools.RealPath(ThinPoolLayout.MountsDirectory(storeRoot, Name)) is not { } folder)
        {
            return;
        }

        var mounted = MountTable.Below(folder).Where(m => Path.GetDirectoryName(m) == folder).ToHashSet(StringComparer.Ordinal);
        foreach (var point in Directory.EnumerateDirectories(folder).Where(d => ThinPoolLayout.IsOrphanedMountPoint(Path.GetFileName(d), device.DeviceId)).ToList())
        {
            if (mounted.Contains(point))
            {
                context.WriteWarning($"Pool '{Name}': device {device.DeviceId} '{ThinPoolNames.Printable(device.Name)}' was left mounted on '{point}' by a process that ended; unmounting it.");
                await ThinMount.Adopt(point, device.DevicePath ?? "", options).UnmountAsync(context).ConfigureAwait(false);
            }
            else
            {
                ThinMount.TryRemoveFolder(point); // made, never mounted: the process died in between
            }
        }
    }

    private async Task DeleteCoreAsync(ThinDevice device, IOperationContext context)
    {
        await DeactivateCoreAsync(device, context).ConfigureAwait(false);
        await StepAsync(device, ThinDeviceState.Removing, () => RetryBusyAsync(() => driver.DeleteAsync(device.DeviceId, device.SizeBytes, context), device, context), null).ConfigureAwait(false);
        repository.DeleteDevice(Name, device.DeviceId);
        repository.BumpTransaction(Name);
        context.WriteVerbose($"Pool '{Name}': deleted device {device.DeviceId} '{ThinPoolNames.Printable(device.Name)}'.");
    }

    /// <summary>
    /// One write-ahead step: record <paramref name="trying"/>, call the pool, record <paramref name="done"/>.
    /// On failure the trying state stays, with the error text.
    /// </summary>
    private async Task StepAsync(ThinDevice device, ThinDeviceState trying, Func<Task> call, ThinDeviceState? done, Func<string>? path = null, bool clearPath = false)
    {
        repository.SetState(Name, device.DeviceId, trying);
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            repository.SetDetail(Name, device.DeviceId, Describe(e));
            throw Wrap(e, device, trying.ToString().ToLowerInvariant());
        }

        if (done is { } state)
        {
            repository.SetState(Name, device.DeviceId, state, null, path?.Invoke(), clearPath);
        }
    }

    private Task RetryBusyAsync(Func<Task> call, ThinDevice device, IOperationContext context)
    {
        var ct = context.CancellationToken;
        var pipeline = RetryPolicies.Create(options.BusyAttempts, options.BusyDelay, e => e is FlyException { ErrorId: ErrorIds.ThinDeviceBusy },
            (attempt, e, delay) => context.WriteVerbose($"Pool '{Name}': device {device.DeviceId} is busy ({e.Message}); attempt {attempt} of {options.BusyAttempts} in {delay.TotalMilliseconds:0} ms."));
        return pipeline.ExecuteAsync(async token => await call().ConfigureAwait(false), ct).AsTask();
    }

    private async Task CheckFloorAsync(IOperationContext context)
    {
        var status = await GetStatusAsync(context).ConfigureAwait(false);
        if (status.Mode != ThinPoolMode.ReadWrite)
        {
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable,
                $"Pool '{Name}' is in mode {status.Mode}{(status.ModeDetail is null ? "" : $" ({status.ModeDetail})")}: no new devices.", Name)
            {
                RecommendedAction = status.Mode == ThinPoolMode.Unavailable ? "Run Initialize-FlyThinPool to bring the pool back (after a reboot)." : "Check the pool (dmsetup status, thin_check) and free space.",
            };
        }

        var floor = FloorPercent;
        var dataFree = FreePercent(status.DataFreeBytes, status.DataTotalBytes);
        var metaFree = FreePercent(status.MetadataFreeBytes, status.MetadataTotalBytes);
        if ((status.DataTotalBytes > 0 && dataFree < floor) || (status.MetadataTotalBytes > 0 && metaFree < floor))
        {
            throw new FlyException(ErrorIds.ThinPoolBelowFloor, FlyErrorCategory.QuotaExceeded,
                string.Create(CultureInfo.InvariantCulture,
                    $"Pool '{Name}' is below its free-space floor of {floor:0.##}%: data {ByteSize.Format(status.DataUsedBytes)} used of {ByteSize.Format(status.DataTotalBytes)} ({dataFree:0.##}% free), metadata {ByteSize.Format(status.MetadataUsedBytes)} used of {ByteSize.Format(status.MetadataTotalBytes)} ({metaFree:0.##}% free). No new device was made."),
                Name)
            {
                RecommendedAction = "Delete devices that are no longer needed, or grow the pool.",
            };
        }
    }

    private static double FreePercent(long free, long total) => total <= 0 ? 100 : 100.0 * free / total;

    private static void ValidateNewName(string name)
    {
        ThinPoolNames.ValidateDevice(name);
        if (name.StartsWith(ThinPoolRepository.ReservedPrefix, StringComparison.Ordinal))
        {
            throw new FlyException(ErrorIds.ThinDeviceNameInvalid, FlyErrorCategory.InvalidArgument, $"Device names starting with '{ThinPoolRepository.ReservedPrefix}' are reserved.", name);
        }
    }

    private static long ValidateSize(long size)
    {
        if (size <= 0 || size > MaxDeviceSize)
        {
            throw new FlyException(ErrorIds.ThinPoolSizeInvalid, FlyErrorCategory.InvalidArgument,
                $"A device size must be more than 0 and at most {ByteSize.Format(MaxDeviceSize)} (asked: {size} bytes).", size);
        }

        return (size + 4095) / 4096 * 4096;
    }

    private FlyException StateInvalid(ThinDevice device, string action) => new(ErrorIds.ThinDeviceStateInvalid, FlyErrorCategory.InvalidOperation,
        $"Cannot {action} device {device.DeviceId} '{ThinPoolNames.Printable(device.Name)}' of pool '{Name}': it is {device.State}{(device.StateDetail is null ? "" : $" ({device.StateDetail})")}.", device.Name)
    {
        RecommendedAction = device.State is ThinDeviceState.Faulty or ThinDeviceState.Creating or ThinDeviceState.Removing ? "Delete the device and make it again." : null,
    };

    internal static string Describe(Exception e) => e switch
    {
        AggregateException a => string.Join("; ", a.InnerExceptions.Select(Describe)),
        OperationCanceledException => "cancelled",
        _ => e.Message,
    };

    /// <summary>Keeps FlyExceptions (their ids are the contract); wraps anything else with the device named.</summary>
    private Exception Wrap(Exception e, ThinDevice device, string step) => e switch
    {
        FlyException or OperationCanceledException => e,
        AggregateException { InnerExceptions.Count: > 0 } a when a.InnerExceptions.All(x => x is FlyException) => a,
        ThinDeviceIdTakenException taken => new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.ResourceExists, taken.Message, device.Name, taken),
        _ => new FlyException(ErrorIds.UnexpectedError, FlyErrorCategory.NotSpecified,
            $"Pool '{Name}': {step} of device {device.DeviceId} failed: {e.Message}", device.Name, e),
    };
}
