using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.Engine;

/// <summary>SQL of the workflows, their completed steps and the journal. Every write takes the caller's transaction.</summary>
public sealed class WorkflowRepository(FlyStore store)
{
    private const string Columns = "id, kind, key, subject, source, state, state_detail, run_id, attempt, run_started_at, interrupted_at, updated_at";

    /// <summary>The state every new workflow starts in (every kind's machine has it).</summary>
    public const string InitialState = "Pending";

    public FlyStore Store { get; } = store;

    public WorkflowRecord? Find(string kind, string key) => Store.Read((c, t) => Find(c, t, kind, key));

    /// <summary>The workflow whose current run is <paramref name="runId"/>, or null (a later run replaced it, or none had it).</summary>
    public WorkflowRecord? FindByRun(string runId)
        => Store.Read((c, t) => c.Query(t, $"SELECT {Columns} FROM workflows WHERE run_id = $r;", Map, ("$r", runId)).FirstOrDefault());

    /// <summary>Workflows left in an intermediate state of their kind in <paramref name="kinds"/> (work was in flight) and not yet marked interrupted.</summary>
    public IReadOnlyList<WorkflowRecord> ListUnfinished(WorkflowRegistry kinds) => Store.Read((c, t) =>
        c.Query(t, $"SELECT {Columns} FROM workflows WHERE state <> $initial AND interrupted_at IS NULL ORDER BY id;", Map, ("$initial", InitialState))
            .Where(w => kinds.IsIntermediate(w.Kind, w.State)).ToList());

    /// <summary>
    /// Starts a new run of (kind, key): creates the workflow in Pending when it is new, else stamps a new
    /// run id on it (the state is untouched: the machine decides where the run goes from there).
    /// </summary>
    public WorkflowRecord BeginRun(string kind, string key, string subject, string? source)
        => Store.Write((c, t) => BeginRun(c, t, kind, key, subject, source));

    /// <summary><see cref="BeginRun(string, string, string, string?)"/> in the caller's transaction.</summary>
    internal static WorkflowRecord BeginRun(SqliteConnection c, SqliteTransaction t, string kind, string key, string subject, string? source)
    {
        var now = StoreTime.Now();
        return c.Query(t, $"""
            INSERT INTO workflows(kind, key, subject, source, state, run_id, attempt, run_started_at, created_at, updated_at)
            VALUES ($k, $key, $sub, $src, $initial, $run, 1, $now, $now, $now)
            ON CONFLICT(kind, key) DO UPDATE SET run_id = excluded.run_id, attempt = attempt + 1, subject = excluded.subject,
                source = excluded.source, run_started_at = excluded.run_started_at, updated_at = excluded.updated_at
            RETURNING {Columns};
            """, Map, ("$k", kind), ("$key", key), ("$sub", subject), ("$src", source), ("$run", NewRunId()), ("$now", now), ("$initial", InitialState)).Single();
    }

    /// <summary>The persisted state of workflow <paramref name="id"/>, or null when it is gone.</summary>
    internal static string? StateOf(SqliteConnection c, SqliteTransaction t, long id)
        => c.Scalar<string>(t, "SELECT state FROM workflows WHERE id = $id;", ("$id", id));

    /// <summary>The state of (kind, key), or null when there is no such workflow.</summary>
    internal static string? StateOf(SqliteConnection c, SqliteTransaction t, string kind, string key)
        => c.Scalar<string>(t, "SELECT state FROM workflows WHERE kind = $k AND key = $key;", ("$k", kind), ("$key", key));

    /// <summary>
    /// Moves workflow <paramref name="id"/> to <paramref name="to"/> if run <paramref name="runId"/> still owns it;
    /// returns the state it left, or null when another run has taken it over. Only <see cref="PersistedWorkflow{TState, TTrigger}"/> calls this.
    /// </summary>
    internal static string? Move(SqliteConnection c, SqliteTransaction t, long id, string runId, string to, string? detail, bool interrupted)
    {
        var from = c.Scalar<string>(t, "SELECT state FROM workflows WHERE id = $id AND run_id = $run;", ("$id", id), ("$run", runId));
        if (from is null)
        {
            return null;
        }

        var changed = c.Exec(t, """
            UPDATE workflows SET state = $to, state_detail = $d, updated_at = $now,
                interrupted_at = CASE WHEN $interrupted THEN $now ELSE NULL END
            WHERE id = $id AND run_id = $run;
            """, ("$to", to), ("$d", detail), ("$now", StoreTime.Now()), ("$interrupted", interrupted), ("$id", id), ("$run", runId));
        return changed == 1 ? from : null;
    }

    /// <summary>Steps the workflow completed (across runs, until cleared), with their results.</summary>
    public IReadOnlyDictionary<string, string?> CompletedSteps(long workflowId)
        => Store.Read((c, t) => c.Query(t, "SELECT step, result FROM workflow_steps WHERE workflow_id = $id;", r => (r.GetString(0), r.GetStringOrNull(1)), ("$id", workflowId)))
            .ToDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal);

    public void CompleteStep(long workflowId, string runId, string step, string? result)
        => Store.Write((c, t) => CompleteStep(c, t, workflowId, runId, step, result));

    internal static void CompleteStep(SqliteConnection c, SqliteTransaction t, long workflowId, string runId, string step, string? result)
        => c.Exec(t, """
            INSERT INTO workflow_steps(workflow_id, step, run_id, result, completed_at) VALUES ($id, $s, $run, $r, $now)
            ON CONFLICT(workflow_id, step) DO UPDATE SET run_id = excluded.run_id, result = excluded.result, completed_at = excluded.completed_at;
            """, ("$id", workflowId), ("$s", step), ("$run", runId), ("$r", result), ("$now", StoreTime.Now()));

    internal static void ClearSteps(SqliteConnection c, SqliteTransaction t, long workflowId)
        => c.Exec(t, "DELETE FROM workflow_steps WHERE workflow_id = $id;", ("$id", workflowId));

    internal static WorkflowRecord? Find(SqliteConnection c, SqliteTransaction t, string kind, string key)
        => c.Query(t, $"SELECT {Columns} FROM workflows WHERE kind = $k AND key = $key;", Map, ("$k", kind), ("$key", key)).SingleOrDefault();

    internal static WorkflowRecord? Find(SqliteConnection c, SqliteTransaction t, long id)
        => c.Query(t, $"SELECT {Columns} FROM workflows WHERE id = $id;", Map, ("$id", id)).SingleOrDefault();

    internal static string NewRunId() => Guid.NewGuid().ToString("N")[..16];

    private static WorkflowRecord Map(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetStringOrNull(4), r.GetString(5), r.GetStringOrNull(6),
        r.GetString(7), r.GetInt32(8), StoreTime.Parse(r.GetString(9)), r.GetTimeOrNull(10), StoreTime.Parse(r.GetString(11)));
}
