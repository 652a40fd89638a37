using FlyImages.Operations;

namespace FlyImages.ThinPools;

/// <summary>
/// One thin pool, whatever its backend (devicemapper thin-pool or block files on loop devices).
/// Open one with a <see cref="ThinPoolCatalog"/>. Devices are addressed by the caller's name (any text;
/// it only lives in the store). Every state change is recorded before the pool is touched and
/// confirmed after; steps on one pool are serialised across threads and processes. A pool keeps no
/// caller's context: every call reports (verbose, warnings) and is cancelled through the
/// <see cref="IOperationContext"/> it is given, so one open pool serves many calls (piped images).
/// </summary>
/// <remarks>
/// Typical use (the install workflow): <c>CreateThinAsync</c> a base device, <c>ActivateAsync</c> it,
/// <c>FormatExt4Async</c>, <c>MountAsync</c> and unpack into <see cref="ThinMount.Path"/>, dispose the
/// mount, <c>CreateSnapshotAsync</c> per layer or image, <c>ActivateAsync</c> the snapshot for use.
/// Failures are <see cref="Errors.FlyException"/>s with ids from <see cref="Errors.ErrorIds"/>
/// (ThinDevice*, ThinPool*, DeviceMapperFailed, LoopDeviceFailed, FormatFailed, MountFailed, UnmountFailed).
/// </remarks>
public interface IThinPool
{
    /// <summary>The pool's name.</summary>
    string Name { get; }

    ThinPoolBackend Backend { get; }

    /// <summary>The pool's record (paths, sizes, floor).</summary>
    ThinPoolRecord Record { get; }

    /// <summary>Every device the store records in this pool, by id.</summary>
    IReadOnlyList<ThinDevice> ListDevices();

    /// <summary>The device named <paramref name="name"/>, or null.</summary>
    ThinDevice? FindDevice(string name);

    /// <summary>The device named <paramref name="name"/>; throws ThinDeviceNotFound.</summary>
    ThinDevice GetDevice(string name);

    /// <summary>Creates an empty thin device of <paramref name="sizeBytes"/> (rounded up to 4 KiB). Refused below the free-space floor.</summary>
    Task<ThinDevice> CreateThinAsync(string name, long sizeBytes, IOperationContext context);

    /// <summary>
    /// Creates a snapshot of <paramref name="originName"/>. An active origin is suspended (dm suspend /
    /// filesystem freeze) for the moment of the snapshot and always resumed. Refused below the floor.
    /// </summary>
    Task<ThinDevice> CreateSnapshotAsync(string name, string originName, IOperationContext context);

    /// <summary>Activates the device (idempotent) and returns its block device path.</summary>
    Task<string> ActivateAsync(string name, IOperationContext context);

    /// <summary>Deactivates the device (idempotent); a busy device is retried a bounded number of times, then ThinDeviceBusy.</summary>
    Task DeactivateAsync(string name, IOperationContext context);

    /// <summary>Deactivates and deletes the device, then its record (its id becomes free). Works on Faulty devices too.</summary>
    Task DeleteAsync(string name, IOperationContext context);

    /// <summary>
    /// Renames the device (the store's name only: its id, contents and activation stay). Refused with ThinDeviceExists
    /// when <paramref name="newName"/> is taken.
    /// </summary>
    Task RenameAsync(string name, string newName, IOperationContext context);

    /// <summary>The pool's figures (mode Unavailable when the pool is not present).</summary>
    Task<ThinPoolStatus> GetStatusAsync(IOperationContext context);

    /// <summary>
    /// Brings records and pool together (run at start-up; opening a pool does it once per process):
    /// re-activates what should be active, resumes anything left suspended, finishes interrupted
    /// deactivations and deletions, marks half-made devices Faulty, reports what no record explains.
    /// </summary>
    Task<ThinPoolReconcileReport> ReconcileAsync(IOperationContext context);

    /// <summary>Makes an ext4 filesystem on the active device (nodiscard, eager inode table and journal init).</summary>
    Task FormatExt4Async(string name, IOperationContext context);

    /// <summary>Mounts the active device's ext4 filesystem (nosuid,nodev,noatime) on a private folder under the store. Dispose to unmount.</summary>
    Task<ThinMount> MountAsync(string name, bool readOnly, IOperationContext context);
}

/// <summary>What a reconciliation found and did.</summary>
public sealed record ThinPoolReconcileReport
{
    public required string Pool { get; init; }

    /// <summary>Devices re-activated (recorded active, not live: a reboot).</summary>
    public IReadOnlyList<string> Reactivated { get; init; } = [];

    /// <summary>Devices resumed (left suspended by an interrupted snapshot).</summary>
    public IReadOnlyList<string> Resumed { get; init; } = [];

    /// <summary>Interrupted steps finished (deactivations, deletions, records that lagged behind the pool).</summary>
    public IReadOnlyList<string> Completed { get; init; } = [];

    /// <summary>Devices marked Faulty (half-made: their ids stay taken until deleted).</summary>
    public IReadOnlyList<string> MarkedFaulty { get; init; } = [];

    /// <summary>Things in the pool no record explains (left alone).</summary>
    public IReadOnlyList<string> Unexplained { get; init; } = [];

    /// <summary>Steps that failed (the device keeps its trying state and the error text).</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];

    public bool Clean => Reactivated.Count + Resumed.Count + Completed.Count + MarkedFaulty.Count + Unexplained.Count + Errors.Count == 0;
}
