namespace FlyImages.ThinPools;

/// <summary>
/// What <see cref="ThinPoolCatalog.InitializeAsync"/> makes or adopts. Sizes are bytes; null means
/// the default (or, for an existing pool, what it already has).
/// </summary>
public sealed record ThinPoolSpec
{
    public const string DefaultName = "flyimages";
    public const long DefaultDataSize = 10L << 30;
    public const long DefaultBlockSize = 64 << 10;
    public const double DefaultFloorPercent = 10;

    /// <summary>The pool's name (for DeviceMapper also the dm device name of the pool).</summary>
    public string Name { get; init; } = DefaultName;

    public ThinPoolBackendChoice Backend { get; init; } = ThinPoolBackendChoice.Auto;

    /// <summary>Data size of a new pool (sparse file). Default 10 GiB.</summary>
    public long? DataSize { get; init; }

    /// <summary>Metadata size of a new devicemapper pool. Default: computed from the data size and block size.</summary>
    public long? MetadataSize { get; init; }

    /// <summary>The thin-pool block size: a multiple of 64 KiB from 64 KiB to 1 GiB. Default 64 KiB.</summary>
    public long? BlockSize { get; init; }

    /// <summary>Free-space floor in percent (default 10): new devices are refused below it.</summary>
    public double? FreeSpaceFloorPercent { get; init; }

    /// <summary>
    /// BlockFile only: keep the device images on the pool's own XFS filesystem (reflink=1) in one sparse
    /// file of <see cref="DataSize"/>, so snapshots and layer chains share blocks instead of being copied.
    /// Null (Auto): do so when the store's filesystem cannot reflink (ext4) and XFS is at hand (mkfs.xfs
    /// from xfsprogs, XFS in the kernel), else keep a plain folder. True: required. False: a plain folder.
    /// </summary>
    public bool? ReflinkFilesystem { get; init; }

    /// <summary>Make this the store's default pool (the first pool always becomes the default).</summary>
    public bool MakeDefault { get; init; }
}

/// <summary>Run-time knobs of an open pool.</summary>
public sealed record ThinPoolOptions
{
    /// <summary>Attempts for a busy device (EBUSY on remove, unmount): udev and blkid hold devices briefly.</summary>
    public int BusyAttempts { get; init; } = 8;

    /// <summary>First delay between busy attempts (exponential backoff with jitter, capped at 10 s).</summary>
    public TimeSpan BusyDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Overrides the pool's recorded free-space floor (percent).</summary>
    public double? FreeSpaceFloorPercent { get; init; }

    /// <summary>Timeout of one external command (dmsetup, losetup, mkfs.ext4).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public static ThinPoolOptions Default { get; } = new();
}
