using FlyImages.Engine;
using FlyImages.Errors;

namespace FlyImages.Workflows;

/// <summary>How a failure in a step is treated.</summary>
public enum StepFailureKind
{
    /// <summary>Worth retrying at once with backoff (network, timeout, busy device).</summary>
    Transient,
    /// <summary>The attempt fails (Failed); a later install retries.</summary>
    Failed,
    /// <summary>Hostile or invalid input (Rejected); never retried unless forced.</summary>
    Hostile,
}

/// <summary>Where an install stands: <paramref name="Fetched"/> of <paramref name="Layers"/> blobs in, <paramref name="Sealed"/> chains made.</summary>
public sealed record InstallProgress(string Image, InstallState State, int Layers, int Fetched, int Sealed);

/// <summary>Knobs of the workflow runners.</summary>
public sealed record WorkflowOptions
{
    /// <summary>Redo a Ready image's checks, retry a Rejected one.</summary>
    public bool Force { get; init; }

    public TimeSpan LeaseTtl { get; init; } = LeaseManager.DefaultTtl;

    /// <summary>Attempts per step for transient failures (1 = no retry).</summary>
    public int MaxAttempts { get; init; } = 4;

    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Layer blobs fetched at once (default: <see cref="Content.FetchOptions.LayerConcurrency"/>'s).</summary>
    public int FetchParallelism { get; init; } = Content.FetchOptions.Default.LayerConcurrency;

    /// <summary>Classifies step failures; default <see cref="ClassifyDefault"/>.</summary>
    public Func<Exception, StepFailureKind> Classify { get; init; } = ClassifyDefault;

    /// <summary>
    /// Told (from worker threads) after every install transition, fetched blob and sealed chain: what a
    /// cmdlet needs to draw an image's progress bar. Must be quick and thread-safe.
    /// </summary>
    public Action<InstallProgress>? OnProgress { get; init; }

    public static WorkflowOptions Default { get; } = new();

    /// <summary>
    /// InvalidData / SecurityError are hostile; connection, timeout, busy and unavailable errors (and plain
    /// I/O or timeout exceptions) are transient; workflow conflicts and lost leases are never retried.
    /// </summary>
    public static StepFailureKind ClassifyDefault(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            exception = aggregate.InnerExceptions[0];
        }

        return exception switch
        {
            FlyException { ErrorId: ErrorIds.WorkflowConflict or ErrorIds.LeaseUnavailable or ErrorIds.ChainFaulty } => StepFailureKind.Failed,
            FlyException { Category: FlyErrorCategory.InvalidData or FlyErrorCategory.SecurityError } => StepFailureKind.Hostile,
            FlyException { Category: FlyErrorCategory.ConnectionError or FlyErrorCategory.OperationTimeout or FlyErrorCategory.ResourceBusy or FlyErrorCategory.ResourceUnavailable } => StepFailureKind.Transient,
            FlyException => StepFailureKind.Failed,
            TimeoutException or IOException or HttpRequestException => StepFailureKind.Transient,
            _ => StepFailureKind.Failed,
        };
    }
}
