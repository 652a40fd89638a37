namespace FlyImages.Workflows;

/// <summary>Where an image install stands. Persisted by name: never rename a member.</summary>
public enum InstallState
{
    /// <summary>Recorded, nothing done yet.</summary>
    Pending,
    /// <summary>Reading the image's layer list from its source.</summary>
    Resolving,
    /// <summary>Downloading layer blobs (chains of already fetched layers are applied meanwhile).</summary>
    Fetching,
    /// <summary>Every blob is fetched; the remaining layer chains are being made.</summary>
    Unpacking,
    /// <summary>The top layer chain is sealed: snapshots can be made.</summary>
    Ready,
    /// <summary>The last attempt failed for a reason worth retrying.</summary>
    Failed,
    /// <summary>A layer was hostile or invalid: not retried unless forced.</summary>
    Rejected,
}

/// <summary>What moves an install.</summary>
public enum InstallTrigger
{
    Start,
    Resolved,
    Fetched,
    Unpacked,
    Fail,
    Reject,
    Retry,
    ForceRetry,
    Reverify,
    Interrupt,
    Resume,
    /// <summary>Save-FlyImage brought every blob in: a Failed image goes back to Pending (shown Fetched).</summary>
    Saved,
    /// <summary>Save-FlyImage could not bring a blob in: the image is Failed (the next install retries).</summary>
    SaveFailed,
    /// <summary>The thin pool holding the image's chains was removed: not installed any more (blobs kept).</summary>
    PoolRemoved,
    /// <summary>Remove-FlyImage or a collection forgot the image (its images row, layers and chain uses go in the same transaction).</summary>
    Remove,
}

/// <summary>Where one layer chain (one thin device shared by every image with this layer prefix) stands.</summary>
public enum ChainState
{
    /// <summary>Known, no device yet (or a half-made one was rolled back).</summary>
    Pending,
    /// <summary>Making the device: create-thin + mkfs for chain 1, else a snapshot of the parent chain's device.</summary>
    Creating,
    /// <summary>Mounted, the layer being applied.</summary>
    Applying,
    /// <summary>Unmounted, being made read-only and final.</summary>
    Sealing,
    /// <summary>Complete and immutable: children snapshot it, images use it.</summary>
    Sealed,
    /// <summary>A half-made device could not be rolled back: its id is not reused until repaired.</summary>
    Faulty,
    /// <summary>Nothing uses it any more: its device is being deleted (a crash here is finished by the next run).</summary>
    Deleting,
}

/// <summary>What moves a layer chain.</summary>
public enum ChainTrigger
{
    Create,
    Created,
    Applied,
    Seal,
    RollBack,
    Fault,
    Repair,
    Interrupt,
    Resume,
    /// <summary>The thin pool holding the chain's device was removed: no device any more.</summary>
    PoolRemoved,
    /// <summary>No image and no snapshot uses the chain: its device goes (Remove-FlyImage, a collection).</summary>
    Delete,
    /// <summary>The device of a Deleting chain is gone.</summary>
    Deleted,
}

/// <summary>Where a thin snapshot (an activated image) stands.</summary>
public enum SnapshotState
{
    Pending,
    Creating,
    Activating,
    Active,
    Removing,
    Removed,
    Failed,
}

/// <summary>What moves a thin snapshot.</summary>
public enum SnapshotTrigger
{
    Create,
    Created,
    Activated,
    Remove,
    Removed,
    Fail,
    Retry,
    Interrupt,
    Resume,
}
