namespace FlyImages.Errors;

public static partial class ErrorIds
{
    // workflows
    /// <summary>An install attempt failed for a reason worth retrying (the image is now Failed).</summary>
    public const string InstallFailed = "InstallFailed";

    /// <summary>A layer was hostile or invalid (the image is now Rejected); -Force retries it.</summary>
    public const string ImageRejected = "ImageRejected";

    /// <summary>A layer chain device is Faulty and could not be repaired.</summary>
    public const string ChainFaulty = "ChainFaulty";

    /// <summary>Another owner changed a workflow this run believed it owned (lease lost).</summary>
    public const string WorkflowConflict = "WorkflowConflict";

    /// <summary>A lease could not be acquired (busy and not waiting, or lost while working).</summary>
    public const string LeaseUnavailable = "LeaseUnavailable";

    /// <summary>A snapshot was asked of an image that is not Ready (install it first).</summary>
    public const string ImageNotReady = "ImageNotReady";

    /// <summary>Making or activating a thin snapshot failed.</summary>
    public const string SnapshotFailed = "SnapshotFailed";

    /// <summary>A step returned something the workflow cannot use (e.g. a malformed digest).</summary>
    public const string WorkflowStepInvalid = "WorkflowStepInvalid";
}
