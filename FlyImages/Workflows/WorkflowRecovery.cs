using FlyImages.Errors;
using FlyImages.State;

namespace FlyImages.Workflows;

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

    /// <summary>
    /// The usual registry: a make-chain workflow caught Creating or Applying has its half-made device
    /// deleted by <paramref name="steps"/>' <see cref="IInstallSteps.DiscardChainDeviceAsync"/>, which reports
    /// through <paramref name="context"/> (nothing when null).
    /// </summary>
    public static CompensationRegistry ForChains(FlyStore store, IInstallSteps steps, Operations.IOperationContext? context = null)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var chains = new LayerChainRepository(store);
        Compensation discard = async (workflow, cancellationToken) =>
        {
            var chain = chains.Find(workflow.Key)
                ?? throw new InvalidOperationException($"The layer chain '{workflow.Key}' has a workflow but no record.");
            var parent = chain.ParentChainId is null ? null : chains.Find(chain.ParentChainId);
            var plan = new ChainPlan(chain.ChainId, chain.ParentChainId, chain.Depth, chain.LayerDigest, null, parent?.Device);
            await steps.DiscardChainDeviceAsync(plan, chain.Device, new StepContext(context ?? Operations.NullOperationContext.Instance, cancellationToken, workflow.RunId))
                .ConfigureAwait(false);
        };
        return new CompensationRegistry()
            .Register(WorkflowKinds.MakeChain, nameof(ChainState.Creating), discard)
            .Register(WorkflowKinds.MakeChain, nameof(ChainState.Applying), discard)
            .Register(WorkflowKinds.MakeChain, nameof(ChainState.Deleting), discard);
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
/// Crash recovery. Run by anything that opens the store for work: every workflow left in an
/// intermediate state whose lease owner is gone (process dead, pid reused, host rebooted, or lease
/// expired) is taken over and either marked interrupted (resumable: the next run goes on from its
/// last completed step) or compensated and rolled back (half-made chain devices), each with a
/// journal entry. Workflows with a live owner are left alone. Leases of owners dead on this host that
/// are left (their work had ended) are released.
/// </summary>
public sealed class WorkflowRecovery(FlyStore store, CompensationRegistry? compensations = null)
{
    public FlyStore Store { get; } = store;

    public CompensationRegistry Compensations { get; } = compensations ?? new CompensationRegistry();

    public TimeSpan LeaseTtl { get; init; } = LeaseManager.DefaultTtl;

    /// <summary>Recovers <paramref name="store"/> with no compensations registered (half-made chains become Faulty).</summary>
    public static IReadOnlyList<RecoveredWorkflow> Recover(FlyStore store)
        => new WorkflowRecovery(store).RecoverAsync(CancellationToken.None).GetAwaiter().GetResult();

    public async Task<IReadOnlyList<RecoveredWorkflow>> RecoverAsync(CancellationToken cancellationToken)
    {
        var repository = new WorkflowRepository(Store);
        var leases = new LeaseManager(Store);
        var done = new List<RecoveredWorkflow>();
        foreach (var candidate in repository.ListUnfinished())
        {
            cancellationToken.ThrowIfCancellationRequested();
            await using var lease = leases.TryAcquire(new LeaseKey(candidate.Kind, candidate.Key), LeaseTtl);
            if (lease is null)
            {
                continue; // a live owner is on it
            }

            var current = repository.Find(candidate.Kind, candidate.Key);
            if (current is null || !WorkflowKinds.IsIntermediate(current.Kind, current.State))
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
        var compensation = Compensations.Find(workflow.Kind, workflow.State);
        switch (workflow.Kind)
        {
            case WorkflowKinds.MakeChain when workflow.State is nameof(ChainState.Creating) or nameof(ChainState.Applying):
            {
                var machine = new PersistedWorkflow<ChainState, ChainTrigger>(Store, run, WorkflowMachines.ConfigureChain);
                if (compensation is null)
                {
                    var detail = $"{why}; no compensation is registered, so the half-made device may remain";
                    machine.Fire(ChainTrigger.Fault, error: detail, errorId: ErrorIds.ChainFaulty);
                    return new RecoveredWorkflow(workflow.Kind, workflow.Key, workflow.Subject, workflow.State, RecoveryOutcome.Faulty, detail);
                }

                try
                {
                    await compensation(run, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    var detail = $"{why}; rolling back failed: {e.Message}";
                    machine.Fire(ChainTrigger.Fault, error: detail, errorId: ErrorIds.ChainFaulty);
                    return new RecoveredWorkflow(workflow.Kind, workflow.Key, workflow.Subject, workflow.State, RecoveryOutcome.Faulty, detail);
                }

                var rolled = $"{why}; the half-made device was deleted";
                machine.Fire(ChainTrigger.RollBack, rolled, alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, workflow.Key, null));
                return new RecoveredWorkflow(workflow.Kind, workflow.Key, workflow.Subject, workflow.State, RecoveryOutcome.RolledBack, rolled);
            }

            case WorkflowKinds.MakeChain when workflow.State is nameof(ChainState.Deleting):
                return await FinishDeletionAsync(workflow, run, compensation, why, cancellationToken).ConfigureAwait(false);

            default:
            {
                if (compensation is not null)
                {
                    await compensation(run, cancellationToken).ConfigureAwait(false);
                }

                var detail = $"interrupted: {why}; the next run resumes from its last completed step";
                FireInterrupt(run, detail);
                return new RecoveredWorkflow(workflow.Kind, workflow.Key, workflow.Subject, workflow.State, RecoveryOutcome.Interrupted, detail);
            }
        }
    }

    /// <summary>A removal or collection stopped while deleting a chain's device: delete it and record the chain Pending (or Faulty).</summary>
    private async Task<RecoveredWorkflow> FinishDeletionAsync(WorkflowRecord workflow, WorkflowRecord run, Compensation? discard, string why, CancellationToken cancellationToken)
    {
        var machine = new PersistedWorkflow<ChainState, ChainTrigger>(Store, run, WorkflowMachines.ConfigureChain);
        if (discard is null)
        {
            return new RecoveredWorkflow(workflow.Kind, workflow.Key, workflow.Subject, workflow.State, RecoveryOutcome.Interrupted,
                $"{why}; left Deleting for a run that can reach its pool");
        }

        try
        {
            await discard(run, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var failed = $"{why}; finishing its deletion failed: {e.Message}";
            machine.Fire(ChainTrigger.Fault, error: failed, errorId: ErrorIds.ChainFaulty);
            return new RecoveredWorkflow(workflow.Kind, workflow.Key, workflow.Subject, workflow.State, RecoveryOutcome.Faulty, failed);
        }

        var detail = $"{why}; its deletion was finished";
        machine.Fire(ChainTrigger.Deleted, detail, alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, workflow.Key, null));
        return new RecoveredWorkflow(workflow.Kind, workflow.Key, workflow.Subject, workflow.State, RecoveryOutcome.RolledBack, detail);
    }

    private void FireInterrupt(WorkflowRecord run, string detail)
    {
        switch (run.Kind)
        {
            case WorkflowKinds.InstallImage:
                new PersistedWorkflow<InstallState, InstallTrigger>(Store, run, WorkflowMachines.ConfigureInstall)
                    .Fire(InstallTrigger.Interrupt, detail);
                break;
            case WorkflowKinds.MakeChain:
                new PersistedWorkflow<ChainState, ChainTrigger>(Store, run, WorkflowMachines.ConfigureChain).Fire(ChainTrigger.Interrupt, detail);
                break;
            case WorkflowKinds.Snapshot:
                new PersistedWorkflow<SnapshotState, SnapshotTrigger>(Store, run, WorkflowMachines.ConfigureSnapshot).Fire(SnapshotTrigger.Interrupt, detail);
                break;
            default:
                throw new InvalidOperationException($"Unknown workflow kind '{run.Kind}'.");
        }
    }
}
