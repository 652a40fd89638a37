using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.State;

namespace FlyImages.Workflows;

/// <summary>
/// Crash recovery of the image workflows (<see cref="WorkflowMachines.Registry"/>): installs and snapshots
/// left in flight are marked interrupted (the next run resumes them); a layer chain caught Creating or
/// Applying has its half-made device deleted by its compensation and goes back to Pending (Faulty when
/// that fails or none is registered); one caught Deleting has its deletion finished.
/// </summary>
public sealed class WorkflowRecovery(FlyStore store, CompensationRegistry? compensations = null) : Recovery(store, WorkflowMachines.Registry, compensations)
{
    /// <summary>Recovers <paramref name="store"/> with no compensations registered (half-made chains become Faulty).</summary>
    public static IReadOnlyList<RecoveredWorkflow> Recover(FlyStore store)
        => new WorkflowRecovery(store).RecoverAsync(CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>A make-chain workflow caught Creating or Applying: its half-made device is deleted and it goes back to Pending, or it is Faulty.</summary>
    internal static Task<RecoveredWorkflow> RollBackChainAsync(RecoveryCase recovery, PersistedWorkflow<ChainState, ChainTrigger> machine, CancellationToken cancellationToken)
        => DiscardDeviceAsync(recovery, machine, $"{recovery.Why}; no compensation is registered, so the half-made device may remain",
            "rolling back failed", ChainTrigger.RollBack, "the half-made device was deleted", cancellationToken);

    /// <summary>A removal or collection stopped while deleting a chain's device: delete it and record the chain Pending (or Faulty).</summary>
    internal static Task<RecoveredWorkflow> FinishChainDeletionAsync(RecoveryCase recovery, PersistedWorkflow<ChainState, ChainTrigger> machine, CancellationToken cancellationToken)
        => DiscardDeviceAsync(recovery, machine, null, "finishing its deletion failed", ChainTrigger.Deleted, "its deletion was finished", cancellationToken);

    /// <summary>
    /// Deletes the chain's device with the registered compensation and fires <paramref name="done"/> (the chain records no device), or
    /// Faulty when that fails. Without a compensation: Faulty with <paramref name="faultWithout"/>, or (null) left as it is for a run that can reach its pool.
    /// </summary>
    private static async Task<RecoveredWorkflow> DiscardDeviceAsync(RecoveryCase recovery, PersistedWorkflow<ChainState, ChainTrigger> machine, string? faultWithout,
        string failed, ChainTrigger done, string doneDetail, CancellationToken cancellationToken)
    {
        if (recovery.Compensation is null)
        {
            return faultWithout is null
                ? recovery.Outcome(RecoveryOutcome.Interrupted, $"{recovery.Why}; left Deleting for a run that can reach its pool")
                : Fault(recovery, machine, faultWithout);
        }

        try
        {
            await recovery.Compensation(recovery.Run, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Fault(recovery, machine, $"{recovery.Why}; {failed}: {e.Message}");
        }

        var detail = $"{recovery.Why}; {doneDetail}";
        machine.Fire(done, detail, alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, recovery.Workflow.Key, null));
        return recovery.Outcome(RecoveryOutcome.RolledBack, detail);
    }

    private static RecoveredWorkflow Fault(RecoveryCase recovery, PersistedWorkflow<ChainState, ChainTrigger> machine, string detail)
    {
        machine.Fire(ChainTrigger.Fault, error: detail, errorId: ErrorIds.ChainFaulty);
        return recovery.Outcome(RecoveryOutcome.Faulty, detail);
    }
}

/// <summary>The compensations of the image workflows.</summary>
public static class ChainCompensations
{
    extension(CompensationRegistry)
    {
        /// <summary>
        /// The usual registry: a make-chain workflow caught Creating, Applying or Deleting has its half-made device
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
            return ForChains(discard);
        }

        /// <summary>A registry in which a make-chain workflow caught Creating, Applying or Deleting has its device deleted by <paramref name="discard"/>.</summary>
        public static CompensationRegistry ForChains(Compensation discard) => new CompensationRegistry()
            .Register(WorkflowKinds.MakeChain, nameof(ChainState.Creating), discard)
            .Register(WorkflowKinds.MakeChain, nameof(ChainState.Applying), discard)
            .Register(WorkflowKinds.MakeChain, nameof(ChainState.Deleting), discard);
    }
}
