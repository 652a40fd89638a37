namespace FlyImages.Model;

/// <summary>
/// Where an image stands on this host, as Get-FlyImage shows it: derived on read from the image's install
/// workflow, and where no install decided it (none, or Pending) from the blobs in the content store.
/// </summary>
public enum ImageState
{
    /// <summary>Offered by the source; nothing of it is here.</summary>
    Remote,
    /// <summary>The source lists it, but its keys do not form a valid image (see Problems).</summary>
    Invalid,
    /// <summary>Being resolved or fetched by an install; or, with no install under way, some of its layer blobs are in the content store.</summary>
    Fetching,
    /// <summary>Every layer blob is in the content store, verified, and no install decided otherwise.</summary>
    Fetched,
    /// <summary>Being unpacked into thin devices.</summary>
    Unpacking,
    /// <summary>Its top layer chain is sealed on a thin device: snapshots can be made.</summary>
    Ready,
    /// <summary>The last install or save failed for a reason worth retrying.</summary>
    Failed,
    /// <summary>A layer was hostile or invalid; not retried unless forced.</summary>
    Rejected,
}
