using FlyImages.State;
using Stateless;
using Stateless.Graph;
using Stateless.Reflection;

namespace FlyImages.Engine;

/// <summary>
/// One kind of persisted workflow as the engine sees it: its name (the <c>kind</c> of its rows), which of its states
/// end a run, its transition graph, and what crash recovery does with a run left in one of its other states.
/// The workflows built on the engine declare their kinds in a <see cref="WorkflowRegistry"/>.
/// </summary>
public abstract class WorkflowKind
{
    private protected WorkflowKind(string name) => Name = name;

    public string Name { get; }

    /// <summary>Whether <paramref name="state"/> ends a run: nothing is in flight.</summary>
    public abstract bool IsFinal(string state);

    /// <summary>Whether work was in flight in <paramref name="state"/>: after a crash it is resumed or rolled back.</summary>
    public bool IsIntermediate(string state) => !IsFinal(state) && state != WorkflowRepository.InitialState;

    /// <summary>The transition graph, as the Stateless reflection describes it (for the published diagrams).</summary>
    public abstract StateMachineInfo Graph();

    /// <summary>Recovers <see cref="RecoveryCase.Workflow"/> under the recovery run <see cref="RecoveryCase.Run"/>.</summary>
    internal abstract Task<RecoveredWorkflow> RecoverAsync(RecoveryCase recovery, CancellationToken cancellationToken);
}

/// <summary>
/// A kind whose machine has states <typeparamref name="TState"/> and triggers <typeparamref name="TTrigger"/>. By default
/// recovery runs the registered compensation, if any, and fires <c>interrupt</c> (the next run resumes); states whose
/// half-done work cannot be resumed get a handler of their own (<see cref="RecoverIn"/>).
/// </summary>
public sealed class WorkflowKind<TState, TTrigger> : WorkflowKind
    where TState : struct, Enum
    where TTrigger : struct, Enum
{
    private readonly HashSet<string> final;
    private readonly TTrigger interrupt;
    private readonly Dictionary<TState, RecoveryHandler> handlers = new();

    /// <param name="name">The kind's name, as the store records it.</param>
    /// <param name="configure">The transition graph: every machine of the kind is configured with it.</param>
    /// <param name="interrupt">The trigger that marks a run interrupted (re-entering its state).</param>
    /// <param name="final">The states that end a run.</param>
    public WorkflowKind(string name, Action<StateMachine<TState, TTrigger>> configure, TTrigger interrupt, params TState[] final)
        : base(name)
    {
        Configure = configure ?? throw new ArgumentNullException(nameof(configure));
        this.interrupt = interrupt;
        this.final = final.Select(s => s.ToString()).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>What recovery does with a run left in a state: returns what it did.</summary>
    public delegate Task<RecoveredWorkflow> RecoveryHandler(RecoveryCase recovery, PersistedWorkflow<TState, TTrigger> machine, CancellationToken cancellationToken);

    public Action<StateMachine<TState, TTrigger>> Configure { get; }

    /// <summary>A machine of this kind for <paramref name="run"/>, its state in the store.</summary>
    public PersistedWorkflow<TState, TTrigger> Open(FlyStore store, WorkflowRecord run) => new(store, run, Configure);

    /// <summary>Recovers runs left in <paramref name="state"/> with <paramref name="handler"/> instead of interrupting them.</summary>
    public WorkflowKind<TState, TTrigger> RecoverIn(TState state, RecoveryHandler handler)
    {
        handlers[state] = handler ?? throw new ArgumentNullException(nameof(handler));
        return this;
    }

    public override bool IsFinal(string state) => final.Contains(state);

    public override StateMachineInfo Graph()
    {
        var machine = new StateMachine<TState, TTrigger>(Enum.Parse<TState>(WorkflowRepository.InitialState));
        Configure(machine);
        return machine.GetInfo();
    }

    internal override async Task<RecoveredWorkflow> RecoverAsync(RecoveryCase recovery, CancellationToken cancellationToken)
    {
        var machine = Open(recovery.Store, recovery.Run);
        if (Enum.TryParse<TState>(recovery.Workflow.State, out var state) && handlers.TryGetValue(state, out var handler))
        {
            return await handler(recovery, machine, cancellationToken).ConfigureAwait(false);
        }

        if (recovery.Compensation is { } compensation)
        {
            await compensation(recovery.Run, cancellationToken).ConfigureAwait(false);
        }

        var detail = $"interrupted: {recovery.Why}; the next run resumes from its last completed step";
        machine.Fire(interrupt, detail);
        return recovery.Outcome(RecoveryOutcome.Interrupted, detail);
    }
}

/// <summary>The workflow kinds built on the engine, by name. Kinds it does not hold (journal-only ones) have no machine: nothing of theirs is in flight.</summary>
public sealed class WorkflowRegistry(params WorkflowKind[] kinds)
{
    private readonly Dictionary<string, WorkflowKind> byName = kinds.ToDictionary(k => k.Name, StringComparer.Ordinal);

    /// <summary>The kinds, in the order given.</summary>
    public IReadOnlyList<WorkflowKind> Kinds { get; } = kinds;

    public WorkflowKind? Find(string kind) => byName.GetValueOrDefault(kind);

    /// <summary>Whether a workflow of <paramref name="kind"/> in <paramref name="state"/> had work in flight.</summary>
    public bool IsIntermediate(string kind, string state) => Find(kind)?.IsIntermediate(state) ?? false;

    /// <summary>The graph of <paramref name="kind"/> as Graphviz DOT.</summary>
    public string Dot(string kind) => UmlDotGraph.Format(Require(kind).Graph());

    /// <summary>The graph of <paramref name="kind"/> as Mermaid (stateDiagram-v2), as GitHub renders it.</summary>
    public string Mermaid(string kind) => MermaidGraph.Format(Require(kind).Graph());

    private WorkflowKind Require(string kind) => Find(kind) ?? throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown workflow kind.");
}
