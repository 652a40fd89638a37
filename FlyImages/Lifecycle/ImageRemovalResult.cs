namespace FlyImages.Lifecycle;

/// <summary>What removing one image freed (Remove-FlyImage's output; a collection outputs one per image it removed).</summary>
public sealed class ImageRemovalResult
{
    /// <summary>The image's name.</summary>
    public required string Image { get; init; }

    /// <summary>The image's source URI.</summary>
    public required string Source { get; init; }

    /// <summary>What removed it: Remove-FlyImage, or a collection and why (e.g. "pool data 91% > 85%").</summary>
    public required string Trigger { get; init; }

    /// <summary>Snapshots of the image that were removed first (-RemoveSnapshots).</summary>
    public string[] Snapshots { get; init; } = [];

    /// <summary>Layer chains whose devices were deleted (no remaining image or snapshot uses them).</summary>
    public string[] Chains { get; init; } = [];

    /// <summary>Layer chains the image used that stay, because another image or a snapshot still uses them.</summary>
    public string[] ChainsKept { get; init; } = [];

    /// <summary>Blobs deleted from the content store (no remaining image references them).</summary>
    public string[] Blobs { get; init; } = [];

    /// <summary>Bytes the thin pools gave back (data in use before minus after; 0 when a pool cannot say).</summary>
    public long PoolBytes { get; init; }

    /// <summary>Bytes of blob files deleted from the content store.</summary>
    public long StoreBytes { get; init; }

    /// <summary>What a failure left to do (chains still Deleting, blobs still present); empty when the removal completed. The next run finishes it.</summary>
    public string[] Left { get; init; } = [];

    /// <summary>The host the store is on.</summary>
    public string ComputerName { get; init; } = Environment.MachineName;

    /// <summary>True when nothing is left to do.</summary>
    public bool Complete => Left.Length == 0;

    public override string ToString() => $"{Image}: {Chains.Length} chain(s), {Blobs.Length} blob(s), pool {PoolBytes} B, store {StoreBytes} B";
}
