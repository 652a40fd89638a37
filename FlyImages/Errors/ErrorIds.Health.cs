namespace FlyImages.Errors;

public static partial class ErrorIds
{
    // health checks and metrics
    public const string HealthCheckPathNotFound = "HealthCheckPathNotFound";
    public const string HealthCheckScriptFailed = "HealthCheckScriptFailed";
    public const string MetricsWriteFailed = "MetricsWriteFailed";
}
