namespace FlyImages.ThinPools;

/// <summary>A pool as the store records it.</summary>
public sealed record ThinPoolRecord
{
    internal long Id { get; init; }

    public required string Name { get; init; }

    public required ThinPoolBackend Backend { get; init; }

    /// <summary>DeviceMapper: the dm name of the thin-pool device.</summary>
    public string? DmName { get; init; }

    /// <summary>The data file (DeviceMapper pools FlyImages made) or the folder of device images (BlockFile).</summary>
    public string? DataPath { get; init; }

    /// <summary>The metadata file (DeviceMapper pools FlyImages made).</summary>
    public string? MetadataPath { get; init; }

    /// <summary>
    /// BlockFile pools with a filesystem of their own: the sparse file holding it (XFS with reflink,
    /// mounted on <see cref="DataPath"/>), so snapshots share blocks whatever the store's filesystem is.
    /// Null when the device images live in a plain folder. Such a pool records the empty filesystem's own
    /// overhead (log, reservations) as <see cref="MetadataSize"/>; its data use is what the filesystem
    /// has in use beyond that.
    /// </summary>
    public string? FilesystemImage { get; init; }

    public required long BlockSize { get; init; }

    public required long DataSize { get; init; }

    public required long MetadataSize { get; init; }

    public required double FreeSpaceFloorPercent { get; init; }

    /// <summary>True when FlyImages made the pool (and may re-create it after a reboot); false when adopted.</summary>
    public required bool Owned { get; init; }

    public bool IsDefault { get; init; }

    internal long TransactionId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}
