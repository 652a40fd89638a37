namespace FlyImages.Model;

/// <summary>One layer of an image: a tar blob applied in <see cref="Index"/> order. Immutable.</summary>
public sealed record Layer
{
    /// <summary>1-based position in the image: layer 1 is the base.</summary>
    public int Index { get; init; }

    /// <summary>The key (S3) or relative path (folder) of the blob in its source.</summary>
    public string Key { get; init; } = "";

    public long Size { get; init; }

    /// <summary>As the source reports it, without quotes; null where the source has none.</summary>
    public string? ETag { get; init; }

    public DateTimeOffset? LastModified { get; init; }

    /// <summary><c>sha256:&lt;hex&gt;</c> of the blob, known once it has been fetched.</summary>
    public string? Digest { get; init; }

    /// <summary>Path of the verified blob in the content store, when it is there.</summary>
    public string? BlobPath { get; init; }

    public LayerCompression Compression { get; init; }

    /// <summary>The host this object describes (see <see cref="LocalHost"/>).</summary>
    public string ComputerName { get; init; } = LocalHost.ComputerName;

    public override string ToString() => $"{Index}: {Key}";
}
