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
}
