namespace FlyImages.Content;

/// <summary>A verified blob in the content store.</summary>
/// <param name="Digest"><c>sha256:&lt;hex&gt;</c>.</param>
/// <param name="Path">Its file under <c>blobs/sha256/</c>.</param>
/// <param name="Size">Bytes.</param>
/// <param name="Outcome">How this call got it.</param>
public sealed record BlobInfo(string Digest, string Path, long Size, FetchOutcome Outcome = FetchOutcome.Present);

/// <summary>How a fetch obtained a blob.</summary>
public enum FetchOutcome
{
    /// <summary>Already recorded for this source object, file present: no request made.</summary>
    Present,
    /// <summary>Identical content (same plain-MD5 ETag and size) was already stored: no download.</summary>
    Reused,
    /// <summary>Downloaded (possibly resuming a partial file).</summary>
    Downloaded,
    /// <summary>Present, and re-hashed on request (-Force): the digest still matches.</summary>
    Reverified,
}

/// <summary>What a layer's fetch is doing, for progress bars. Reported a few times a second and once at the end.</summary>
public sealed record LayerProgress(string Key, long BytesDone, long TotalBytes, LayerPhase Phase, double BytesPerSecond = 0);

public enum LayerPhase
{
    Checking,
    Waiting,
    Downloading,
    Verifying,
    Done,
    Failed,
}
