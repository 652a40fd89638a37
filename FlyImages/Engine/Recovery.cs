using FlyImages.State;

namespace FlyImages.Engine;

/// <summary>A compensation: undoes the half-done work of a workflow left in a state (e.g. deletes a half-made device).</summary>
public delegate Task Compensation(WorkflowRecord workflow, CancellationToken cancellationToken);

/// <summary>
/// Compensations per (kind, state), filled in by whoever owns the resources (the thin pools register
/// "delete the half-made chain device" for make-chain Creating and Applying).
/// </summary>
public sealed class CompensationRegistry
{
    private readonly Dictionary<(string Kind, string State), Compensation> handlers = new();

    public CompensationRegistry Register(string kind, string state, Compensation compensation)
    {
        ArgumentNullException.ThrowIfNull(compensation);
        lock (handlers)
        {
            handlers[(kind, state)] = compensation;
        }

        return this;
    }

    public Compensation? Find(string kind, string state)
    {
        lock (handlers)
        {
            return handlers.GetValueOrDefault((kind, state));
        }
    }
}

/// <summary>What recovery did to one workflow.</summary>
public enum RecoveryOutcome
{
    /// <summary>Marked interrupted; the next run resumes it from its last completed step.</summary>
    Interrupted,
    /// <summary>Compensated and back to Pending.</summary>
    RolledBack,
    /// <summary>Could not be compensated: marked Faulty.</summary>
    Faulty,
}

public sealed record RecoveredWorkflow(string Kind, string Key, string Subject, string State, RecoveryOutcome Outcome, string Detail);

/// <summary>
/// One workflow being recovered: as it was left (<paramref name="Workflow"/>), the recovery run started on it
/// (<paramref name="Run"/>), the compensation registered for its kind and state, and why it is recovered (for the journal).
/// </summary>
public sealed record RecoveryCase(FlyStore Store, WorkflowRecord Workflow, WorkflowRecord Run, Compensation? Compensation, string Why)
{
    public RecoveredWorkflow Outcome(RecoveryOutcome outcome, string detail)
        => new(Workflow.Kind, Workflow.Key, Workflow.Subject, Workflow.State, outcome, detail);
}

/// <summary>
/// Crash recovery. Run by anything that opens the store for work: every workflow of a kind in
/// <see cref="Kinds"/> left in an intermediate state whose lease owner is gone (process dead, pid reused,
/// host rebooted, or lease expired) is taken over and recovered as its kind says (marked interrupted, so
/// the next run goes on from its last completed step, or compensated and rolled back), each with a
/// journal entry. Workflows with a live owner are left alone. Leases of owners dead on this host that
/// are left (their work had ended) are released.
/// </summary>
public class Recovery(FlyStore store, WorkflowRegistry kinds, CompensationRegistry? compensations = null)
{
    public FlyStore Store { get; } = store;

    public WorkflowRegistry Kinds { get; } = kinds;

    public CompensationRegistry Compensations { get; } = compensations ?? new CompensationRegistry();

    public TimeSpan LeaseTtl { get; init; } = LeaseManager.DefaultTtl;

    public async Task<IReadOnlyList<RecoveredWorkflow>> RecoverAsync(CancellationToken cancellationToken)
    {
        var repository = new WorkflowRepository(Store);
        var leases = new LeaseManager(Store);
        var done = new List<RecoveredWorkflow>();
        foreach (var candidate in repository.ListUnfinished(Kinds))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await using var lease = leases.TryAcquire(new LeaseKey(candidate.Kind, candidate.Key), LeaseTtl);
            if (lease is null)
            {
                continue; // a live owner is on it
            }

            var current = repository.Find(candidate.Kind, candidate.Key);
            if (current is null || !Kinds.IsIntermediate(current.Kind, current.State))
            {
                continue;
            }

            done.Add(await RecoverOneAsync(current, lease.TakenOverFrom, cancellationToken).ConfigureAwait(false));
        }

        // a process killed after its work was done (Ready, Sealed...) but before it released its lease left a
        // record nothing would take over (there is nothing left to do): forget it
        leases.ReleaseDead();
        return done;
    }

    /// <summary>
    /// Recovers one workflow whose lease the caller holds (taken over from <paramref name="deadOwner"/>).
    /// Starts a recovery run on it: its transitions are journaled under a new run id.
    /// </summary>
    public async Task<RecoveredWorkflow> RecoverOneAsync(WorkflowRecord workflow, LeaseOwner? deadOwner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workflow);
        var why = deadOwner is null
            ? $"run {workflow.RunId} left it {workflow.State} with no lease"
            : $"run {workflow.RunId} of {deadOwner.Process} stopped in {workflow.State} ({(deadOwner.ExpiresAt <= DateTimeOffset.UtcNow ? "lease expired" : "process gone")})";
        var run = new WorkflowRepository(Store).BeginRun(workflow.Kind, workflow.Key, workflow.Subject, workflow.Source);
        var kind = Kinds.Find(workflow.Kind) ?? throw new InvalidOperationException($"Unknown workflow kind '{workflow.Kind}'.");
        return await kind.RecoverAsync(new RecoveryCase(Store, workflow, run, Compensations.Find(workflow.Kind, workflow.State), why), cancellationToken)
            .ConfigureAwait(false);
    }
}
