namespace FlyImages.Errors;

public static partial class ErrorIds
{
    // thin pools
    public const string ThinPoolNameInvalid = "ThinPoolNameInvalid";
    public const string ThinPoolNotFound = "ThinPoolNotFound";
    public const string ThinPoolInUse = "ThinPoolInUse";
    public const string ThinPoolUnavailable = "ThinPoolUnavailable";
    public const string ThinPoolBackendUnavailable = "ThinPoolBackendUnavailable";
    public const string ThinPoolConflict = "ThinPoolConflict";
    public const string ThinPoolBelowFloor = "ThinPoolBelowFloor";
    public const string ThinPoolSizeInvalid = "ThinPoolSizeInvalid";
    public const string ThinPoolIdsExhausted = "ThinPoolIdsExhausted";
    public const string ThinDeviceNameInvalid = "ThinDeviceNameInvalid";
    public const string ThinDeviceNotFound = "ThinDeviceNotFound";
    public const string ThinDeviceExists = "ThinDeviceExists";
    public const string ThinDeviceStateInvalid = "ThinDeviceStateInvalid";
    public const string ThinDeviceBusy = "ThinDeviceBusy";
    public const string DeviceMapperFailed = "DeviceMapperFailed";
    public const string LoopDeviceFailed = "LoopDeviceFailed";
    public const string ThinDeviceCopyFailed = "ThinDeviceCopyFailed";
    public const string FormatFailed = "FormatFailed";
    public const string MountFailed = "MountFailed";
    public const string UnmountFailed = "UnmountFailed";

    /// <summary>The pool has too little room for a layer (refused before writing), or ran out of data or metadata space while one was written.</summary>
    public const string PoolFull = "PoolFull";

    /// <summary>A layer's bytes did not reach the chain device safely (flush error, filesystem errors, unclean unmount) while the pool still had room.</summary>
    public const string ChainWriteFailed = "ChainWriteFailed";
}
