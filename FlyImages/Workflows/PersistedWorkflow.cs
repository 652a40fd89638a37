using System.Diagnostics;
using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.State;
using Microsoft.Data.Sqlite;
using Stateless;

namespace FlyImages.Workflows;

/// <summary>
/// A Stateless machine whose state lives in the store: the accessor reads <c>workflows.state</c>, the
/// mutator writes it together with its journal row (and whatever the caller adds) in ONE transaction,
/// guarded by the state it started from and the run id, so a run that lost its lease cannot overwrite
/// another's progress. Fire transitions only through <see cref="Fire"/>.
/// </summary>
public sealed class PersistedWorkflow<TState, TTrigger>
    where TState : struct, Enum
    where TTrigger : struct, Enum
{
    private readonly Action<SqliteConnection, SqliteTransaction, WorkflowRecord, TState, string?>? onPersist;
    private readonly Stopwatch inState = Stopwatch.StartNew();
    private Pending? pending;

    /// <param name="store">The store.</param>
    /// <param name="workflow">The workflow, as <see cref="WorkflowRepository.BeginRun"/> returned it (its run id is this run's).</param>
    /// <param name="configure">The transition graph (one of <see cref="WorkflowMachines"/>).</param>
    /// <param name="onPersist">Extra writes in every transition's transaction (e.g. the image's state).</param>
    public PersistedWorkflow(FlyStore store, WorkflowRecord workflow, Action<StateMachine<TState, TTrigger>> configure,
        Action<SqliteConnection, SqliteTransaction, WorkflowRecord, TState, string?>? onPersist = null)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Store = store;
        Workflow = workflow;
        this.onPersist = onPersist;
        Machine = new StateMachine<TState, TTrigger>(ReadState, WriteState);
        configure(Machine);
    }

    public FlyStore Store { get; }

    public WorkflowRecord Workflow { get; }

    public string RunId => Workflow.RunId;

    /// <summary>The machine. Its state is the store's; fire through <see cref="Fire"/>.</summary>
    public StateMachine<TState, TTrigger> Machine { get; }

    /// <summary>The persisted state (one read).</summary>
    public TState State => Machine.State;

    /// <summary>Who writes the journal rows (this process).</summary>
    public ProcessIdentity Who { get; init; } = ProcessIdentity.Current;

    /// <summary>
    /// Fires <paramref name="trigger"/>: the new state, the journal row (with <paramref name="detail"/> or
    /// <paramref name="error"/>, the time spent in the previous state, host and pid) and
    /// <paramref name="alsoWrite"/> commit together, or none of them does.
    /// </summary>
    public TState Fire(TTrigger trigger, string? detail = null, string? error = null, Action<SqliteConnection, SqliteTransaction>? alsoWrite = null)
    {
        if (pending is not null)
        {
            throw new InvalidOperationException("A transition is already being fired on this workflow.");
        }

        pending = new Pending(trigger, WorkflowJournal.Clean(detail), WorkflowJournal.Clean(error), alsoWrite);
        try
        {
            Machine.Fire(trigger);
        }
        finally
        {
            pending = null;
        }

        inState.Restart();
        return State;
    }

    /// <summary>Whether <paramref name="trigger"/> is permitted in the current (persisted) state.</summary>
    public bool CanFire(TTrigger trigger) => Machine.CanFire(trigger);

    private TState ReadState()
    {
        var text = Store.Read((c, t) => c.Scalar<string>(t, "SELECT state FROM workflows WHERE id = $id;", ("$id", Workflow.Id)))
            ?? throw Conflict("its record is gone");
        return Enum.TryParse<TState>(text, out var state) ? state
            : throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.InvalidData,
                $"The {Workflow.Kind} workflow '{Workflow.Key}' is in state '{text}', which this FlyImages does not know.", Workflow.Key);
    }

    private void WriteState(TState to)
    {
        var p = pending ?? throw new InvalidOperationException("Workflow states change only through Fire().");
        Store.Write((c, t) =>
        {
            var from = c.Scalar<string>(t, "SELECT state FROM workflows WHERE id = $id AND run_id = $run;", ("$id", Workflow.Id), ("$run", RunId))
                ?? throw Conflict("another run has taken it over");
            var changed = c.Exec(t, """
                UPDATE workflows SET state = $to, state_detail = $d, updated_at = $now,
                    interrupted_at = CASE WHEN $interrupted THEN $now ELSE NULL END
                WHERE id = $id AND run_id = $run;
                """, ("$to", to.ToString()), ("$d", p.Error ?? p.Detail), ("$now", StoreTime.Now()), ("$interrupted", p.Trigger.ToString() == "Interrupt"),
                ("$id", Workflow.Id), ("$run", RunId));
            if (changed != 1)
            {
                throw Conflict("another run has taken it over");
            }

            WorkflowJournal.Append(c, t, Workflow, RunId, from, to.ToString(), p.Trigger.ToString(), p.Detail, p.Error, inState.Elapsed, Who);
            p.AlsoWrite?.Invoke(c, t);
            onPersist?.Invoke(c, t, Workflow, to, p.Error ?? p.Detail);
        });
    }

    private FlyException Conflict(string why) => new(ErrorIds.WorkflowConflict, FlyErrorCategory.ResourceBusy,
        $"The {Workflow.Kind} workflow '{Workflow.Key}' changed under run {RunId}: {why}.", Workflow.Key);

    private sealed record Pending(TTrigger Trigger, string? Detail, string? Error, Action<SqliteConnection, SqliteTransaction>? AlsoWrite);
}
