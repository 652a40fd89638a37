using FlyImages.Operations;

namespace FlyImages.ThinPools;

/// <summary>The figures a backend reports about its pool.</summary>
internal sealed record PoolUsage(ThinPoolMode Mode, long TransactionId, long DataUsed, long DataTotal, long MetadataUsed, long MetadataTotal, string? Detail = null);

/// <summary>What a backend sees in its pool, for reconciliation.</summary>
/// <param name="ActiveIds">Device ids that are active now (a dm table / a loop device exists).</param>
/// <param name="KnownIds">Device ids the pool holds, where the backend can list them (null when it cannot).</param>
/// <param name="Foreign">Other things in the pool no FlyImages name explains (descriptions).</param>
internal sealed record PoolInventory(IReadOnlySet<int> ActiveIds, IReadOnlySet<int>? KnownIds, IReadOnlyList<string> Foreign)
{
    /// <summary>
    /// The block device path of active devices, where the backend read it in the same pass (block files: the
    /// loop device of each image). Reconciliation confirms a recorded path from it instead of asking the
    /// driver once per device, which cost one scan of every loop device per active device.
    /// </summary>
    public IReadOnlyDictionary<int, string> ActivePaths { get; init; } = new Dictionary<int, string>();
}

/// <summary>
/// The primitive steps of one backend. Records, states, locks, retries and the free-space floor are
/// the engine's (<see cref="ThinPool"/>); a driver only touches the pool. Every step is idempotent where
/// the kernel allows: "already gone" is success for Deactivate and Delete. A busy device throws
/// FlyException ThinDeviceBusy (the engine retries it); a device id the pool already holds throws
/// <see cref="ThinDeviceIdTakenException"/>. A driver keeps no caller's context: the steps that report
/// take the caller's <see cref="IOperationContext"/> (its token cancels them), the silent ones only a
/// token. Drivers are made by their backend's <see cref="IThinPoolBackend"/>.
/// </summary>
internal interface IThinPoolDriver
{
    ThinPoolBackend Backend { get; }

    /// <summary>Whether the pool is usable as is (false after a reboot until <see cref="EnsureReadyAsync"/>).</summary>
    Task<bool> IsReadyAsync(CancellationToken cancellationToken);

    /// <summary>Makes the pool usable (after a reboot: re-attach files, re-create the pool table), reporting through <paramref name="context"/>.</summary>
    Task EnsureReadyAsync(IOperationContext context);

    Task CreateThinAsync(int deviceId, long size, CancellationToken cancellationToken);

    /// <summary>Creates <paramref name="deviceId"/> as a snapshot of <paramref name="originId"/> (suspended by the engine when active).</summary>
    Task CreateSnapshotAsync(int deviceId, int originId, long size, IOperationContext context);

    Task<bool> IsActiveAsync(int deviceId, CancellationToken cancellationToken);

    /// <summary>Activates (or finds the active) device and returns its block device path.</summary>
    Task<string> ActivateAsync(int deviceId, long size, CancellationToken cancellationToken);

    Task DeactivateAsync(int deviceId, CancellationToken cancellationToken);

    /// <summary>
    /// Removes <paramref name="deviceId"/> (of <paramref name="size"/> bytes) from the pool, giving its blocks back
    /// (devicemapper discards the whole device first; a failed discard is a warning through
    /// <paramref name="context"/>). The engine's one deletion path calls it, after the device is deactivated.
    /// </summary>
    Task DeleteAsync(int deviceId, long size, IOperationContext context);

    /// <summary>Stops I/O on an active device and makes its data consistent (dm suspend / filesystem freeze).</summary>
    Task SuspendAsync(int deviceId, CancellationToken cancellationToken);

    /// <summary>Undoes <see cref="SuspendAsync"/>; a device that is not suspended is fine.</summary>
    Task ResumeAsync(int deviceId, CancellationToken cancellationToken);

    Task<PoolUsage> GetUsageAsync(CancellationToken cancellationToken);

    Task<PoolInventory> GetInventoryAsync(CancellationToken cancellationToken);

    /// <summary>Removes the pool itself (FlyImages-made pools only; devices are gone by then).</summary>
    Task DestroyAsync(CancellationToken cancellationToken);
}

/// <summary>The pool already holds a device with this id (made by someone else): the engine marks the id Faulty and takes another.</summary>
internal sealed class ThinDeviceIdTakenException(int deviceId, string message) : Exception(message)
{
    public int DeviceId { get; } = deviceId;
}
