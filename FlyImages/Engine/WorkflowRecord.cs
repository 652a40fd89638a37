namespace FlyImages.Engine;

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

/// <summary>One journal entry that is no workflow's transition (see <see cref="WorkflowJournal.Record"/>).</summary>
/// <param name="Kind">What wrote it (e.g. "lifecycle": a kind with no machine).</param>
/// <param name="Key">What it is about (an image's install key, or a marker for the whole store).</param>
/// <param name="Subject">The image name, or a marker such as "(orphans)" or "(collection)".</param>
/// <param name="Source">The image's source; null for the whole store.</param>
/// <param name="RunId">Groups the entries of one command run.</param>
/// <param name="From">What it was before (e.g. the image's state).</param>
/// <param name="To">What it is after (e.g. Removed).</param>
/// <param name="Trigger">What caused it (e.g. Remove-FlyImage, high-use, max-age, orphan).</param>
/// <param name="Detail">What it did (e.g. what it freed).</param>
/// <param name="Error">What it could not do, when something was left.</param>
/// <param name="Duration">How long it took.</param>
public sealed record JournalEntry(string Kind, string Key, string Subject, string? Source, string RunId, string From, string To, string Trigger,
    string? Detail, string? Error, TimeSpan Duration);

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
