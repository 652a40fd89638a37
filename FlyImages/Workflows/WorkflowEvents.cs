using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.Workflows;

/// <summary>The journal as the image workflows' events (what Get-FlyImageEvent shows); the engine writes it (<see cref="Engine.WorkflowJournal"/>).</summary>
public static class WorkflowEvents
{
    /// <summary>
    /// Journal entries, oldest first (newest last). Filters are optional: <paramref name="subjectFilter"/>
    /// (on the image name: wildcard matching is the caller's), <paramref name="source"/>, <paramref name="kind"/>,
    /// <paramref name="runId"/>; <paramref name="last"/> keeps only the newest N.
    /// </summary>
    public static IReadOnlyList<WorkflowEvent> Query(FlyStore store, Func<string, bool>? subjectFilter = null, string? source = null,
        string? kind = null, string? runId = null, int? last = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        // only the filters given, never "$x IS NULL OR col = $x" (planned once, that form cannot use the run index)
        var filters = new[] { (source, "source = $src"), (kind, "kind = $k"), (runId, "run_id = $run") }.Where(f => f.Item1 is not null).Select(f => f.Item2).ToList();
        var where = filters.Count == 0 ? "" : "WHERE " + string.Join(" AND ", filters);
        var rows = store.Read((c, t) => c.Query(t, $"{SelectEvents} {where} ORDER BY id;", ReadEvent, ("$src", source), ("$k", kind), ("$run", runId)));
        IEnumerable<WorkflowEvent> selected = subjectFilter is null ? rows : rows.Where(e => subjectFilter(e.Image));
        if (last is { } n)
        {
            var list = selected.ToList();
            return list.Skip(Math.Max(0, list.Count - n)).ToList();
        }

        return selected.ToList();
    }

    /// <summary>Entries with an id above <paramref name="afterId"/>, oldest first, at most <paramref name="limit"/> (for following the journal).</summary>
    public static IReadOnlyList<WorkflowEvent> After(FlyStore store, long afterId, int limit = 1000)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Read((c, t) => c.Query(t, $"{SelectEvents} WHERE id > $after ORDER BY id LIMIT $limit;", ReadEvent, ("$after", afterId), ("$limit", limit)));
    }

    /// <summary>The id of the newest entry (0 when the journal is empty).</summary>
    public static long NewestId(FlyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Read((c, t) => c.Scalar<long?>(t, "SELECT max(id) FROM workflow_journal;")) ?? 0;
    }

    private const string SelectEvents = "SELECT id, at, subject, source, kind, key, run_id, from_state, to_state, trigger, detail, error, duration_ms, host, pid, error_id FROM workflow_journal";

    private static WorkflowEvent ReadEvent(SqliteDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Time = StoreTime.Parse(r.GetString(1)),
        Image = r.GetString(2),
        Source = r.GetStringOrNull(3),
        Kind = r.GetString(4),
        Key = r.GetString(5),
        RunId = r.GetString(6),
        From = r.GetString(7),
        To = r.GetString(8),
        Trigger = r.GetString(9),
        Detail = r.GetStringOrNull(10),
        Error = r.GetStringOrNull(11),
        Duration = TimeSpan.FromMilliseconds(r.GetDouble(12)),
        Host = r.GetString(13),
        ProcessId = r.GetInt32(14),
        ErrorId = r.GetStringOrNull(15),
    };
}

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
