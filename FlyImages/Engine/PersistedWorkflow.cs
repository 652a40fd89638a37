using System.Diagnostics;
using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.State;
using Microsoft.Data.Sqlite;
using Stateless;

namespace FlyImages.Engine;

/// <summary>
/// A Stateless machine whose state lives in the store: the accessor reads <c>workflows.state</c>, the
/// mutator writes it together with its journal row (and whatever the caller adds) in ONE transaction
/// (its own, or the caller's for a machine bound to one),
/// guarded by the state it started from and the run id, so a run that lost its lease cannot overwrite
/// another's progress. Fire transitions only through <see cref="Fire"/>.
/// </summary>
public sealed class PersistedWorkflow<TState, TTrigger>
    where TState : struct, Enum
    where TTrigger : struct, Enum
{
    private readonly Action<Action<SqliteConnection, SqliteTransaction>> read;
    private readonly Action<Action<SqliteConnection, SqliteTransaction>> write;
    private readonly Stopwatch inState = Stopwatch.StartNew();
    private Pending? pending;

    /// <param name="store">The store: every transition commits in a transaction of its own.</param>
    /// <param name="workflow">The workflow, as <see cref="WorkflowRepository.BeginRun(string, string, string, string?)"/> returned it (its run id is this run's).</param>
    /// <param name="configure">The transition graph (the configuration of its <see cref="WorkflowKind{TState, TTrigger}"/>).</param>
    public PersistedWorkflow(FlyStore store, WorkflowRecord workflow, Action<StateMachine<TState, TTrigger>> configure)
        : this(store, workflow, configure, w => store.Read((c, t) => { w(c, t); return 0; }), w => store.Write(w))
    {
    }

    /// <summary>
    /// A machine bound to the caller's transaction <paramref name="t"/>: its transitions commit (or not)
    /// with everything else the caller writes in it, e.g. several workflows moved at once.
    /// </summary>
    internal PersistedWorkflow(FlyStore store, SqliteConnection c, SqliteTransaction t, WorkflowRecord workflow, Action<StateMachine<TState, TTrigger>> configure)
        : this(store, workflow, configure, w => w(c, t), w => w(c, t))
    {
    }

    private PersistedWorkflow(FlyStore store, WorkflowRecord workflow, Action<StateMachine<TState, TTrigger>> configure,
        Action<Action<SqliteConnection, SqliteTransaction>> read, Action<Action<SqliteConnection, SqliteTransaction>> write)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Store = store;
        Workflow = workflow;
        this.read = read;
        this.write = write;
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
    /// <paramref name="error"/> and the stable <paramref name="errorId"/> the failure surfaces with, the time spent in
    /// the previous state, host and pid) and <paramref name="alsoWrite"/> commit together, or none of them does.
    /// </summary>
    public TState Fire(TTrigger trigger, string? detail = null, string? error = null, Action<SqliteConnection, SqliteTransaction>? alsoWrite = null, string? errorId = null)
    {
        if (pending is not null)
        {
            throw new InvalidOperationException("A transition is already being fired on this workflow.");
        }

        pending = new Pending(trigger, WorkflowJournal.Clean(detail), WorkflowJournal.Clean(error), errorId, alsoWrite);
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
        string? text = null;
        read((c, t) => text = WorkflowRepository.StateOf(c, t, Workflow.Id));
        return text is null ? throw Conflict("its record is gone")
            : Enum.TryParse<TState>(text, out var state) ? state
            : throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.InvalidData,
                $"The {Workflow.Kind} workflow '{Workflow.Key}' is in state '{text}', which this FlyImages does not know.", Workflow.Key);
    }

    private void WriteState(TState to)
    {
        var p = pending ?? throw new InvalidOperationException("Workflow states change only through Fire().");
        write((c, t) =>
        {
            var from = WorkflowRepository.Move(c, t, Workflow.Id, RunId, to.ToString(), p.Error ?? p.Detail, interrupted: p.Trigger.ToString() == "Interrupt")
                ?? throw Conflict("another run has taken it over");
            WorkflowJournal.Append(c, t, Workflow, RunId, from, to.ToString(), p.Trigger.ToString(), p.Detail, p.Error, p.ErrorId, inState.Elapsed, Who);
            p.AlsoWrite?.Invoke(c, t);
        });
    }

    private FlyException Conflict(string why) => new(ErrorIds.WorkflowConflict, FlyErrorCategory.ResourceBusy,
        $"The {Workflow.Kind} workflow '{Workflow.Key}' changed under run {RunId}: {why}.", Workflow.Key);

    private sealed record Pending(TTrigger Trigger, string? Detail, string? Error, string? ErrorId, Action<SqliteConnection, SqliteTransaction>? AlsoWrite);
}
