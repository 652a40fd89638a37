namespace FlyImages.Errors;

/// <summary>
/// The kind of a failure, as the core sees it. Names match System.Management.Automation.ErrorCategory
/// one for one, so the cmdlet layer maps them by name without the core referencing PowerShell.
/// </summary>
public enum FlyErrorCategory
{
    NotSpecified,
    ConnectionError,
    ObjectNotFound,
    PermissionDenied,
    InvalidArgument,
    InvalidData,
    InvalidOperation,
    InvalidResult,
    LimitsExceeded,
    OperationStopped,
    OperationTimeout,
    ResourceBusy,
    ResourceExists,
    ResourceUnavailable,
    ReadError,
    WriteError,
    SecurityError,
    NotInstalled,
    NotImplemented,
    DeviceError,
    ProtocolError,
    QuotaExceeded,
}
