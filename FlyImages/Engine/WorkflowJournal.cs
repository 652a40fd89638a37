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
}
