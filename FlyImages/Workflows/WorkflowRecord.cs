namespace FlyImages.Workflows;

/// <summary>One persisted workflow: the machine of (kind, key) and its current run.</summary>
public sealed record WorkflowRecord(
    long Id,
    string Kind,
    string Key,
    string Subject,
    string? Source,
    string State,
    string? StateDetail,
    string RunId,
    int Attempt,
    DateTimeOffset RunStartedAt,
    DateTimeOffset? InterruptedAt,
    DateTimeOffset UpdatedAt);

/// <summary>One journal entry: a transition of a workflow.</summary>
public sealed class WorkflowEvent
{
    public long Id { get; init; }

    public DateTimeOffset Time { get; init; }

    /// <summary>The image (or snapshot) the run worked for.</summary>
    public string Image { get; init; } = "";

    public string? Source { get; init; }

    public string Kind { get; init; } = "";

    public string Key { get; init; } = "";

    public string RunId { get; init; } = "";

    public string From { get; init; } = "";

    public string To { get; init; } = "";

    public string Trigger { get; init; } = "";

    public string? Detail { get; init; }

    /// <summary>The error that caused the transition, when one did.</summary>
    public string? Error { get; init; }

    /// <summary>
    /// The stable error id the failure surfaced with (InstallFailed, ImageRejected, PoolFull, ChainFaulty,
    /// SnapshotFailed...): set on the entries that reached a failed state, null on the others.
    /// </summary>
    public string? ErrorId { get; init; }

    /// <summary>Time spent in <see cref="From"/> by this run before the transition.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>The host of the process that made the transition (as its lease recorded it).</summary>
    public string Host { get; init; } = "";

    public int ProcessId { get; init; }

    /// <summary>The host this object was read on (see <see cref="Model.LocalHost"/>).</summary>
    public string ComputerName { get; init; } = Model.LocalHost.ComputerName;

    /// <summary>The error when there is one, else the detail: what the table view shows.</summary>
    public string? Message => Error ?? Detail;

    public override string ToString() => $"{Time:O} {Image} {Kind} {From} -> {To} ({Trigger})";
}
