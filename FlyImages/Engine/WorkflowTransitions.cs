using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.State;
using Microsoft.Data.Sqlite;
using Stateless;

namespace FlyImages.Engine;

/// <summary>
/// Fires a declared trigger of a persisted workflow inside a transaction the caller already holds, for the
/// few changes that must commit together across several machines (a removal forgets an image and marks its
/// chains Deleting at once). The transition is the one the graph given declares (refused
/// otherwise); the new state and its journal row are written like <see cref="PersistedWorkflow{TState,TTrigger}"/>
/// writes them, under the run of the workflow record given, which must still be its current run (its lease is the caller's).
/// </summary>
public static class WorkflowTransitions
{
    public static TState Fire<TState, TTrigger>(SqliteConnection c, SqliteTransaction t, WorkflowRecord workflow, Action<StateMachine<TState, TTrigger>> configure,
        TTrigger trigger, string? detail, ProcessIdentity who)
        where TState : struct, Enum
        where TTrigger : struct, Enum
    {
        ArgumentNullException.ThrowIfNull(workflow);
        ArgumentNullException.ThrowIfNull(configure);
        var current = WorkflowRepository.Find(c, t, workflow.Id)
            ?? throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.ResourceBusy, $"The {workflow.Kind} workflow '{workflow.Key}' is gone.", workflow.Key);
        if (current.RunId != workflow.RunId)
        {
            throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.ResourceBusy,
                $"The {workflow.Kind} workflow '{workflow.Key}' changed under run {workflow.RunId}: another run has taken it over.", workflow.Key);
        }

        if (!Enum.TryParse<TState>(current.State, out var from))
        {
            throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.InvalidData,
                $"The {workflow.Kind} workflow '{workflow.Key}' is in state '{current.State}', which this FlyImages does not know.", workflow.Key);
        }

        var state = from;
        var machine = new StateMachine<TState, TTrigger>(() => state, s => state = s);
        configure(machine);
        machine.Fire(trigger); // throws InvalidOperationException for a transition the graph does not declare
        var text = WorkflowJournal.Clean(detail);
        c.Exec(t, "UPDATE workflows SET state = $to, state_detail = $d, updated_at = $now, interrupted_at = NULL WHERE id = $id AND run_id = $run;",
            ("$to", state.ToString()), ("$d", text), ("$now", StoreTime.Now()), ("$id", workflow.Id), ("$run", workflow.RunId));
        WorkflowJournal.Append(c, t, current, workflow.RunId, from.ToString(), state.ToString(), trigger.ToString(), text, null, null, DateTimeOffset.UtcNow - current.UpdatedAt, who);
        return state;
    }
}
