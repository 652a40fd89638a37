using FlyImages.Engine;
using FlyImages.Model;
using FlyImages.State;
using FlyImages.Workflows;

namespace FlyImages.Lifecycle;

/// <summary>What caused a removal or a collection: the Trigger of its journal entry (kind <see cref="WorkflowKinds.Lifecycle"/>).</summary>
public static class LifecycleTriggers
{
    /// <summary>Remove-FlyImage removed the image.</summary>
    public const string Remove = "Remove-FlyImage";

    /// <summary>A collection removed it because pool data, pool metadata or the store's filesystem was above the high threshold.</summary>
    public const string HighUse = "high-use";

    /// <summary>A collection removed it because it was unused for longer than the maximum age.</summary>
    public const string MaxAge = "max-age";

    /// <summary>A collection deleted something no record explains (a device, a partial download, a blob, a mount).</summary>
    public const string Orphan = "orphan";

    /// <summary>A collection ran (its summary entry) with no figure above the high threshold and nothing too old.</summary>
    public const string Collection = "collection";
}

/// <summary>
/// Writes the lifecycle journal entries through the journal's owner (<see cref="WorkflowJournal.Record"/>): one per image
/// removed (by Remove-FlyImage or a collection), one per orphan a collection deleted (subject "(orphans)"), and one per
/// collection (subject "(collection)"), each with its trigger and what it freed. <c>Get-FlyImageEvent -Kind lifecycle</c>
/// reads them.
/// </summary>
public static class LifecycleJournal
{
    /// <summary>The subject (and key) of the entries of orphans a collection deleted.</summary>
    public const string OrphansSubject = "(orphans)";

    /// <summary>The subject (and key) of a collection's summary entry.</summary>
    public const string CollectionSubject = "(collection)";

    /// <summary>"freed 42.0 MiB: ..." (pool and store bytes together first, so the narrow table column shows it).</summary>
    public static string Freed(long poolBytes, long storeBytes, string what)
        => $"freed {ByteSize.Format(poolBytes + storeBytes)}: {what}, pool {ByteSize.Format(poolBytes)}, store {ByteSize.Format(storeBytes)}";

    /// <summary>One image removed (To: Removed; Incomplete with the error when something was left).</summary>
    public static void Removed(FlyStore store, ImageRemovalResult result, string key, string runId, string cause, string fromState, TimeSpan took)
    {
        ArgumentNullException.ThrowIfNull(result);
        var detail = Freed(result.PoolBytes, result.StoreBytes, $"{result.Chains.Length} chain(s), {result.Blobs.Length} blob(s)");
        if (result.ChainsKept.Length > 0)
        {
            detail += $"; {result.ChainsKept.Length} chain(s) kept in use";
        }

        if (result.Snapshots.Length > 0)
        {
            detail += $"; snapshot(s) removed first: {string.Join(", ", result.Snapshots)}";
        }

        if (result.Trigger != cause)
        {
            detail += $"; {result.Trigger}";
        }

        WorkflowJournal.Record(store, new JournalEntry(WorkflowKinds.Lifecycle, key, result.Image, result.Source, runId, fromState,
            result.Complete ? "Removed" : "Incomplete", cause, detail, result.Complete ? null : string.Join("; ", result.Left), took));
    }

    /// <summary>A removal that failed after the image was forgotten (To: Failed).</summary>
    public static void RemovalFailed(FlyStore store, string source, string name, string key, string runId, string cause, string why, string fromState, Exception error, TimeSpan took)
        => WorkflowJournal.Record(store, new JournalEntry(WorkflowKinds.Lifecycle, key, name, source, runId, fromState, "Failed", cause,
            cause == why ? null : why, error?.Message, took));

    /// <summary>One orphan a collection deleted.</summary>
    public static void OrphanCollected(FlyStore store, string runId, string description, long poolBytes, long storeBytes)
        => WorkflowJournal.Record(store, new JournalEntry(WorkflowKinds.Lifecycle, OrphansSubject, OrphansSubject, null, runId, "Orphan", "Collected",
            LifecycleTriggers.Orphan, Freed(poolBytes, storeBytes, description), null, TimeSpan.Zero));

    /// <summary>A collection's summary (To: Collected, or Shortfall with the error when a figure stayed at or above the low threshold).</summary>
    public static void Collected(FlyStore store, string runId, string cause, CollectionResult result, TimeSpan took)
    {
        ArgumentNullException.ThrowIfNull(result);
        var blobs = result.Removed.Sum(r => r.Blobs.Length);
        var detail = Freed(result.PoolBytes, result.StoreBytes, $"{result.Images.Length} image(s), {result.Chains} chain(s), {blobs} blob(s), {result.Orphans.Length} orphan(s)")
            + $"; {result.JournalEventsPruned} journal event(s) pruned; {result.Trigger}";
        var error = result.Shortfall ?? (result.Left.Length > 0 ? string.Join("; ", result.Left) : null);
        WorkflowJournal.Record(store, new JournalEntry(WorkflowKinds.Lifecycle, CollectionSubject, CollectionSubject, null, runId, "Collecting",
            result.Shortfall is null ? "Collected" : "Shortfall", cause, detail, error, took));
    }
}
