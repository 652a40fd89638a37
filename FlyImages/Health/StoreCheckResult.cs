namespace FlyImages.Health;

/// <summary>How a check ended.</summary>
public enum StoreCheckStatus
{
    /// <summary>Everything it looked at was as it should be.</summary>
    Passed,

    /// <summary>It found a problem (the message says what and where).</summary>
    Failed,

    /// <summary>It did not apply (nothing to look at, or an optional input such as -Source was not given).</summary>
    Skipped,
}

/// <summary>One check of one store on one host, as <c>Test-FlyImageStore</c> outputs it (and script checks return it).</summary>
public sealed record StoreCheckResult
{
    /// <summary>The check's name (e.g. Database, Blobs, ChainDevices).</summary>
    public required string Check { get; init; }

    /// <summary>True unless the check failed (a skipped check passes).</summary>
    public bool Passed => Status != StoreCheckStatus.Failed;

    public required StoreCheckStatus Status { get; init; }

    /// <summary>What it looked at and found; for a failure, what is wrong and where.</summary>
    public required string Message { get; init; }

    /// <summary>How long the check took.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>The host the check ran on.</summary>
    public string ComputerName { get; init; } = HostFacts.ComputerName;

    /// <summary>When the check ended (UTC).</summary>
    public DateTimeOffset Timestamp { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Which round of checks this is (1 for the first; -Count and -Repeat make more).</summary>
    public int Iteration { get; init; } = 1;

    /// <summary>The store checked.</summary>
    public string? StorePath { get; init; }

    public override string ToString() => $"{Check}: {Status}";
}

/// <summary>What a check returns; the runner adds the check name, host, duration, time and iteration.</summary>
public readonly record struct CheckOutcome(StoreCheckStatus Status, string Message)
{
    public static CheckOutcome Pass(string message) => new(StoreCheckStatus.Passed, message);

    public static CheckOutcome Fail(string message) => new(StoreCheckStatus.Failed, message);

    public static CheckOutcome Skip(string message) => new(StoreCheckStatus.Skipped, message);
}
