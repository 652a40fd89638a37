namespace FlyImages.Lifecycle;

/// <summary>What one collection (Limit-FlyImageStore) did, or with -WhatIf would do.</summary>
public sealed class CollectionResult
{
    /// <summary>Why it ran and which figures were above the high threshold (journaled with each removal).</summary>
    public required string Trigger { get; init; }

    /// <summary>True for -WhatIf: nothing changed; <see cref="Images"/> are the images that would go, in order.</summary>
    public bool WhatIf { get; init; }

    /// <summary>The figures before (pool data and metadata, the store's filesystem).</summary>
    public string[] Before { get; init; } = [];

    /// <summary>The figures after.</summary>
    public string[] After { get; init; } = [];

    /// <summary>Images removed (or that would be), least recently used first.</summary>
    public string[] Images { get; init; } = [];

    /// <summary>Each removal's own result.</summary>
    public ImageRemovalResult[] Removed { get; init; } = [];

    /// <summary>Layer chains deleted (or that would be).</summary>
    public int Chains { get; init; }

    /// <summary>Bytes the pools gave back.</summary>
    public long PoolBytes { get; init; }

    /// <summary>Bytes of blob and partial files deleted (with -WhatIf: the blobs that would go).</summary>
    public long StoreBytes { get; init; }

    /// <summary>Orphans collected (or found, with -WhatIf), each described: devices no record explains, stale partial downloads, unreferenced blobs.</summary>
    public string[] Orphans { get; init; } = [];

    /// <summary>Figures still at or above the low threshold after everything that may go went; null when none.</summary>
    public string? Shortfall { get; init; }

    /// <summary>What removals that could not finish left (the next run finishes it).</summary>
    public string[] Left { get; init; } = [];

    /// <summary>Journal events pruned (older than the retention period, or beyond the count kept per image).</summary>
    public long JournalEventsPruned { get; init; }

    public string ComputerName { get; init; } = Environment.MachineName;

    public override string ToString() => $"{Images.Length} image(s), {Chains} chain(s), pool {PoolBytes} B, store {StoreBytes} B, {Orphans.Length} orphan(s)";
}
