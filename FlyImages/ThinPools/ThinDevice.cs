namespace FlyImages.ThinPools;

/// <summary>
/// A device's recorded state. The "trying" states (Creating, Activating, Suspending, Resuming,
/// Deactivating, Removing) are written before the pool is touched; the outcome state after. A failure
/// leaves the trying state in place with the error text in <see cref="ThinDevice.StateDetail"/>.
/// </summary>
public enum ThinDeviceState
{
    Creating,
    Created,
    Activating,
    Activated,
    Suspending,
    Suspended,
    Resuming,
    Deactivating,
    Deactivated,
    Removing,

    /// <summary>Half-made or inconsistent: its id is kept until the device is deleted.</summary>
    Faulty,
}

/// <summary>How a device was made.</summary>
public enum ThinDeviceKind
{
    /// <summary>An empty thin device.</summary>
    Thin,

    /// <summary>A snapshot of another device of the same pool.</summary>
    Snapshot,
}

/// <summary>A thin device as the store records it.</summary>
public sealed record ThinDevice
{
    /// <summary>The pool it belongs to.</summary>
    public required string Pool { get; init; }

    /// <summary>The caller's name for it (unique in the pool; never used in a path or a dm name).</summary>
    public required string Name { get; init; }

    /// <summary>The pool's 24-bit id of the device.</summary>
    public required int DeviceId { get; init; }

    public required ThinDeviceKind Kind { get; init; }

    /// <summary>The device id a snapshot was taken of (null for thin devices).</summary>
    public int? OriginId { get; init; }

    /// <summary>Virtual size in bytes.</summary>
    public required long SizeBytes { get; init; }

    public required ThinDeviceState State { get; init; }

    /// <summary>The error text of the last failed step, or a note about the state.</summary>
    public string? StateDetail { get; init; }

    /// <summary>The block device path the last activation returned (null when inactive).</summary>
    public string? DevicePath { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }
}
