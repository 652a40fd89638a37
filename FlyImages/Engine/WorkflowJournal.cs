using FlyImages.Operations;
using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.Engine;

/// <summary>The journal: one row per transition, written in the transaction that changes the state.</summary>
public static class WorkflowJournal
{
    /// <summary>The longest detail or error kept (longer text is cut, marked with an ellipsis).</summary>
    public const int MaxTextLength = 2000;

    /// <summary>
    /// Detail and error text come from failures about hostile input (tar entry names, keys): control
    /// characters (terminal escapes included) become '?', and the length is capped.
    /// </summary>
    public static string? Clean(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var cut = text.Length > MaxTextLength;
        var length = cut ? MaxTextLength - 1 : text.Length;
        var builder = new System.Text.StringBuilder(length + 1);
        for (var i = 0; i < length; i++)
        {
            var ch = text[i];
            if (char.IsHighSurrogate(ch) && i + 1 < length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(ch).Append(text[++i]);
            }
            else
            {
                builder.Append(char.IsControl(ch) || char.IsSurrogate(ch) ? '?' : ch);
            }
        }

        return cut ? builder.Append('…').ToString() : builder.ToString();
    }

    internal static void Append(SqliteConnection c, SqliteTransaction t, WorkflowRecord workflow, string runId, string from, string to, string trigger,
        string? detail, string? error, string? errorId, TimeSpan duration, ProcessIdentity who)
        => c.Exec(t, """
            INSERT INTO workflow_journal(at, kind, key, subject, source, run_id, from_state, to_state, trigger, detail, error, error_id, duration_ms, host, pid)
            VALUES ($at, $k, $key, $sub, $src, $run, $from, $to, $tr, $d, $e, $eid, $ms, $host, $pid);
            """, ("$at", StoreTime.Now()), ("$k", workflow.Kind), ("$key", workflow.Key), ("$sub", workflow.Subject), ("$src", workflow.Source),
            ("$run", runId), ("$from", from), ("$to", to), ("$tr", trigger), ("$d", detail), ("$e", error), ("$eid", errorId),
            ("$ms", Math.Max(0, duration.TotalMilliseconds)), ("$host", who.Host), ("$pid", who.Pid));

    /// <summary>
    /// Appends one entry that is no workflow's transition, in a transaction of its own: what an application service
    /// did to the store as a whole (e.g. kind "lifecycle": a removal or a collection, its
    /// trigger and what it freed). Detail and error are cleaned (<see cref="Clean"/>).
    /// </summary>
    public static void Record(FlyStore store, JournalEntry entry)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(entry);
        var who = ProcessIdentity.Current;
        store.Write((c, t) => c.Exec(t, """
            INSERT INTO workflow_journal(at, kind, key, subject, source, run_id, from_state, to_state, trigger, detail, error, duration_ms, host, pid)
            VALUES ($at, $k, $key, $sub, $src, $run, $from, $to, $tr, $d, $e, $ms, $host, $pid);
            """, ("$at", StoreTime.Now()), ("$k", entry.Kind), ("$key", entry.Key), ("$sub", entry.Subject), ("$src", entry.Source),
            ("$run", entry.RunId), ("$from", entry.From), ("$to", entry.To), ("$tr", entry.Trigger), ("$d", Clean(entry.Detail)), ("$e", Clean(entry.Error)),
            ("$ms", Math.Max(0, entry.Duration.TotalMilliseconds)), ("$host", who.Host), ("$pid", who.Pid)));
    }

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
        var rows = store.Read((c, t) => c.Query(t, $"""
            SELECT {EventColumns}
            FROM workflow_journal
            {where}
            ORDER BY id;
            """, ReadEvent, ("$src", source), ("$k", kind), ("$run", runId)));
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
        return store.Read((c, t) => c.Query(t, $"""
            SELECT {EventColumns}
            FROM workflow_journal WHERE id > $after ORDER BY id LIMIT $limit;
            """, ReadEvent, ("$after", afterId), ("$limit", limit)));
    }

    /// <summary>The id of the newest entry (0 when the journal is empty).</summary>
    public static long NewestId(FlyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Read((c, t) => c.Scalar<long?>(t, "SELECT max(id) FROM workflow_journal;")) ?? 0;
    }

    private const string EventColumns = "id, at, subject, source, kind, key, run_id, from_state, to_state, trigger, detail, error, duration_ms, host, pid, error_id";

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
