namespace FlyImages.Errors;

/// <summary>
/// Every error id FlyImages emits. They are public API: never rename one; add new ones instead.
/// Each area keeps its ids in its own partial file (ErrorIds.&lt;Area&gt;.cs).
/// </summary>
public static partial class ErrorIds
{
    // sources
    public const string SourceInvalid = "SourceInvalid";
    public const string SourceUnreachable = "SourceUnreachable";
    public const string SourceNotFound = "SourceNotFound";
    public const string SourceAccessDenied = "SourceAccessDenied";
    public const string SourceError = "SourceError";
    public const string ImageNotFound = "ImageNotFound";
    public const string ImageInvalid = "ImageInvalid";
    public const string ImageKeyRejected = "ImageKeyRejected";

    // store
    public const string StoreUnavailable = "StoreUnavailable";
    public const string StoreSchemaTooNew = "StoreSchemaTooNew";
    public const string StorePathInvalid = "StorePathInvalid";

    // generic
    public const string OperationCanceled = "OperationCanceled";
    public const string UnexpectedError = "UnexpectedError";
    public const string ExternalCommandFailed = "ExternalCommandFailed";
    public const string ExternalCommandMissing = "ExternalCommandMissing";
}
