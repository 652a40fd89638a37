namespace FlyImages.Errors;

/// <summary>Error ids of the layer unpacker (FlyImages.Unpacking). Public API: never rename one.</summary>
public static partial class ErrorIds
{
    /// <summary>The layer file does not exist or cannot be read.</summary>
    public const string LayerNotFound = "LayerNotFound";

    /// <summary>The layer has no bytes at all.</summary>
    public const string LayerEmpty = "LayerEmpty";

    /// <summary>The bytes are not a tar (plain, gzip, zstd or bzip2): e.g. an image archive, zip, xz, JSON.</summary>
    public const string LayerFormatUnsupported = "LayerFormatUnsupported";

    /// <summary>A tar header or extended header is malformed (checksum, numbers, PAX records...).</summary>
    public const string LayerFormatInvalid = "LayerFormatInvalid";

    /// <summary>The archive or its compressed stream ends before the end-of-archive marker or inside an entry.</summary>
    public const string LayerTruncated = "LayerTruncated";

    /// <summary>An entry would reach outside the destination: "..", an absolute name, a symlinked parent folder.</summary>
    public const string LayerRejectedTraversal = "LayerRejectedTraversal";

    /// <summary>An entry name is unusable: NUL byte, empty, a component longer than 255 bytes, a bad whiteout.</summary>
    public const string LayerRejectedName = "LayerRejectedName";

    /// <summary>A hard link that does not point at a regular file already inside the destination.</summary>
    public const string LayerRejectedLink = "LayerRejectedLink";

    /// <summary>An entry needs a parent folder where a non-folder already is.</summary>
    public const string LayerRejectedConflict = "LayerRejectedConflict";

    /// <summary>A limit of <see cref="Unpacking.UnpackLimits"/> was exceeded; the message names it.</summary>
    public const string LayerRejectedLimit = "LayerRejectedLimit";

    /// <summary>The file system refused an operation (no space, I/O error...); the message names the entry.</summary>
    public const string LayerApplyFailed = "LayerApplyFailed";

    /// <summary>The layer's files need more room than <see cref="Unpacking.UnpackLimits.DestinationRoomBytes"/> allows (refused before the entry is written).</summary>
    public const string DestinationFull = "DestinationFull";

    /// <summary>An unpack limit given by the caller is unknown or out of range.</summary>
    public const string LayerLimitsInvalid = "LayerLimitsInvalid";

    /// <summary>The destination is not a usable folder.</summary>
    public const string LayerDestinationInvalid = "LayerDestinationInvalid";
}
