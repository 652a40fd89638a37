namespace FlyImages.Errors;

public static partial class ErrorIds
{
    // content store (Save-FlyImage)

    /// <summary>The blob is larger than the configured maximum.</summary>
    public const string BlobTooLarge = "BlobTooLarge";

    /// <summary>Not enough free space in the store for the blob.</summary>
    public const string StoreFull = "StoreFull";

    /// <summary>The bytes received did not match what the source announced (the MD5 of its ETag or its additional checksum, length) after every attempt.</summary>
    public const string BlobCorrupt = "BlobCorrupt";

    /// <summary>The source sent more or fewer bytes than it announced, after every attempt.</summary>
    public const string BlobLengthMismatch = "BlobLengthMismatch";

    /// <summary>The object changed in the source since it was listed (ETag or size differs).</summary>
    public const string SourceObjectChanged = "SourceObjectChanged";

    /// <summary>Reading the blob failed after every retry (resets, stalls, timeouts).</summary>
    public const string BlobDownloadFailed = "BlobDownloadFailed";

    /// <summary>A blob could not be written to the store (I/O error, permissions).</summary>
    public const string BlobWriteFailed = "BlobWriteFailed";
}
