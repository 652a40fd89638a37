namespace FlyImages.Errors;

public static partial class ErrorIds
{
    /// <summary>A snapshot name is empty, too long, or has characters other than letters, digits, '.', '_', '-'.</summary>
    public const string SnapshotNameInvalid = "SnapshotNameInvalid";

    /// <summary>No snapshot has that name.</summary>
    public const string SnapshotNotFound = "SnapshotNotFound";

    /// <summary>Snapshots of several images have that name: say which image.</summary>
    public const string SnapshotNameAmbiguous = "SnapshotNameAmbiguous";

    /// <summary>Images of that name are installed from several sources: say which with -Source.</summary>
    public const string ImageNameAmbiguous = "ImageNameAmbiguous";
}
