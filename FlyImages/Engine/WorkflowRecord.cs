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
