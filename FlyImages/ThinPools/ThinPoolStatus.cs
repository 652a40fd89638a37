namespace FlyImages.ThinPools;

/// <summary>Where a pool keeps its devices.</summary>
public enum ThinPoolBackend
{
    /// <summary>A devicemapper thin-pool (production).</summary>
    DeviceMapper,

    /// <summary>Sparse image files on loop devices (kernels without devicemapper).</summary>
    BlockFile,
}

/// <summary>What <c>Initialize-FlyThinPool -Backend</c> asks for.</summary>
public enum ThinPoolBackendChoice
{
    /// <summary>DeviceMapper when the kernel has it, else BlockFile (and say so).</summary>
    Auto,
    DeviceMapper,
    BlockFile,
}

/// <summary>The pool's mode, as dm-thin reports it.</summary>
public enum ThinPoolMode
{
    /// <summary>rw: normal operation.</summary>
    ReadWrite,

    /// <summary>ro: metadata went read-only (usually after an error).</summary>
    ReadOnly,

    /// <summary>out_of_data_space: writes to unprovisioned blocks queue or fail.</summary>
    OutOfDataSpace,

    /// <summary>needs_check: the metadata must be checked (thin_check) before use.</summary>
    NeedsCheck,

    /// <summary>The kernel reports the pool as failed.</summary>
    Failed,

    /// <summary>The pool is not present (not re-initialized after a reboot, files missing...).</summary>
    Unavailable,
}

/// <summary>A pool's figures. Sizes are bytes.</summary>
public sealed record ThinPoolStatus
{
    public required string Name { get; init; }

    public required ThinPoolBackend Backend { get; init; }

    public required ThinPoolMode Mode { get; init; }

    /// <summary>
    /// Where the devices live: "dm-thin" (a devicemapper thin-pool), "own XFS" (a block-file pool on its own
    /// reflink filesystem: snapshots share blocks) or "folder" (block files in a folder of the store).
    /// </summary>
    public string Storage { get; init; } = "";

    /// <summary>Why the pool is unavailable or in a bad mode, if known.</summary>
    public string? ModeDetail { get; init; }

    public long TransactionId { get; init; }

    public long DataUsedBytes { get; init; }

    public long DataTotalBytes { get; init; }

    public long MetadataUsedBytes { get; init; }

    public long MetadataTotalBytes { get; init; }

    public long BlockSizeBytes { get; init; }

    /// <summary>Devices the store records in this pool.</summary>
    public int DeviceCount { get; init; }

    /// <summary>New devices are refused when free data or metadata falls below this percentage.</summary>
    public double FreeSpaceFloorPercent { get; init; }

    /// <summary>Whether this is the store's default pool.</summary>
    public bool IsDefault { get; init; }

    /// <summary>The host this object describes (see <see cref="Model.LocalHost"/>).</summary>
    public string ComputerName { get; init; } = Model.LocalHost.ComputerName;

    public double DataUsedPercent => Percent(DataUsedBytes, DataTotalBytes);

    public double MetadataUsedPercent => Percent(MetadataUsedBytes, MetadataTotalBytes);

    public long DataFreeBytes => Math.Max(0, DataTotalBytes - DataUsedBytes);

    public long MetadataFreeBytes => Math.Max(0, MetadataTotalBytes - MetadataUsedBytes);

    /// <summary>Never above 100: a pool cannot hold more than its total (a block-file pool in a plain folder can pass it for a moment, and the write that did fails with PoolFull).</summary>
    private static double Percent(long used, long total) => total <= 0 ? 0 : Math.Min(100, Math.Round(100.0 * used / total, 2));
}
