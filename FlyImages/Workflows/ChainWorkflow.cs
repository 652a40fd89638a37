using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.State;

namespace FlyImages.Workflows;

/// <summary>
/// Makes one layer chain, once, for every image that needs it: Pending -> Creating -> Applying ->
/// Sealing -> Sealed under the chain's lease. A chain already Sealed costs one store read. A failure
/// or cancellation while Creating or Applying deletes the half-made device (RollBack to Pending) or,
/// when that fails too, marks the chain Faulty; an interrupted seal resumes.
/// </summary>
public sealed class ChainWorkflow(FlyStore store, IInstallSteps steps, WorkflowOptions? options = null)
{
    private readonly WorkflowOptions options = options ?? WorkflowOptions.Default;
    private readonly LayerChainRepository chains = new(store);
    private readonly WorkflowRepository workflows = new(store);
    private readonly LeaseManager leases = new(store);

    /// <summary>
    /// Returns the chain of <paramref name="plan"/> Sealed, making it if needed. <paramref name="subject"/> is the
    /// image the run works for and <paramref name="source"/> its source (journal); <paramref name="imageId"/>, when given, records that the image uses the chain.
    /// </summary>
    public async Task<LayerChain> EnsureSealedAsync(ChainPlan plan, string subject, string? source, long? imageId, StepContext context)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(context);
        store.Write((c, t) => LayerChainRepository.Record(c, t, plan, imageId));
        if (chains.Find(plan.ChainId) is { State: ChainState.Sealed } sealedAlready)
        {
            return sealedAlready;
        }

        await using var lease = await leases.AcquireAsync(new LeaseKey(WorkflowKinds.MakeChain, plan.ChainId), options.LeaseTtl, context.CancellationToken,
            owner => context.Operation.WriteVerbose($"Waiting for {owner} to finish {plan}.")).ConfigureAwait(false);
        if (chains.Find(plan.ChainId) is { State: ChainState.Sealed } sealedMeanwhile)
        {
            return sealedMeanwhile;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lease.Lost);
        var step = context with { CancellationToken = linked.Token };
        var run = workflows.BeginRun(WorkflowKinds.MakeChain, plan.ChainId, subject, source);
        var machine = new PersistedWorkflow<ChainState, ChainTrigger>(store, run, WorkflowMachines.ConfigureChain);
        machine.Machine.OnTransitioned(t => context.Operation.WriteVerbose($"Layer chain {plan.Depth} of '{subject}' ({plan.ChainId}): {t.Source} -> {t.Destination} ({t.Trigger})."));
        var device = chains.Find(plan.ChainId)?.Device;
        try
        {
            if (machine.State == ChainState.Sealing)
            {
                machine.Fire(ChainTrigger.Resume, "resuming the seal an earlier run left");
            }

            while (true)
            {
                switch (machine.State)
                {
                    case ChainState.Sealed:
                        return chains.Find(plan.ChainId)!;

                    case ChainState.Faulty:
                        await StepRetry.RunAsync(options, step, $"Repairing {plan}", s => steps.DiscardChainDeviceAsync(plan, device, s)).ConfigureAwait(false);
                        machine.Fire(ChainTrigger.Repair, "the half-made device was deleted", alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, plan.ChainId, null));
                        device = null;
                        break;

                    case ChainState.Deleting:
                        // a removal or collection that stopped half-way: finish it, then make the chain afresh
                        await StepRetry.RunAsync(options, step, $"Finishing the deletion of {plan}", s => steps.DiscardChainDeviceAsync(plan, device, s)).ConfigureAwait(false);
                        machine.Fire(ChainTrigger.Deleted, "an image needs it again: the deletion an earlier run left was finished",
                            alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, plan.ChainId, null));
                        device = null;
                        break;

                    case ChainState.Creating or ChainState.Applying:
                        // we hold the lease, so whoever left it here is gone: its device is half-made
                        await RollBackAsync(machine, plan, device, $"run {run.RunId} found it {machine.State} from a run that is gone", null, step).ConfigureAwait(false);
                        device = null;
                        break;

                    case ChainState.Pending when plan.StagedDevice is { } staged:
                        // applied while the blob downloaded, checked like any apply; the blob is verified by now
                        machine.Fire(ChainTrigger.Create, $"adopting {staged}: layer {plan.Depth} was applied onto it while its blob downloaded");
                        device = await StepRetry.RunAsync(options, step, $"Adopting {staged} as {plan}", s => steps.AdoptStagedAsync(plan, staged, s)).ConfigureAwait(false);
                        var adopted = device;
                        machine.Fire(ChainTrigger.Created, adopted, alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, plan.ChainId, adopted));
                        machine.Fire(ChainTrigger.Applied, $"applied while downloading from bytes since verified as {plan.LayerDigest}");
                        break;

                    case ChainState.Pending:
                        machine.Fire(ChainTrigger.Create, plan.ParentChainId is null ? "create-thin + mkfs" : $"snapshot of {plan.ParentDevice}");
                        device = await StepRetry.RunAsync(options, step, $"Creating {plan}", s => steps.CreateChainDeviceAsync(plan, s)).ConfigureAwait(false);
                        if (string.IsNullOrWhiteSpace(device))
                        {
                            throw new FlyException(ErrorIds.WorkflowStepInvalid, FlyErrorCategory.InvalidResult, $"Creating {plan} returned no device.", plan.ChainId);
                        }

                        var made = device;
                        machine.Fire(ChainTrigger.Created, made, alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, plan.ChainId, made));
                        await StepRetry.RunAsync(options, step, $"Applying {plan}", s => steps.ApplyLayerAsync(plan, made, s)).ConfigureAwait(false);
                        machine.Fire(ChainTrigger.Applied);
                        break;

                    case ChainState.Sealing:
                        var sealing = device ?? throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.InvalidData, $"{plan} is Sealing but has no device recorded.", plan.ChainId);
                        await StepRetry.RunAsync(options, step, $"Sealing {plan}", s => steps.SealChainAsync(plan, sealing, s)).ConfigureAwait(false);
                        machine.Fire(ChainTrigger.Seal, sealing);
                        break;
                }
            }
        }
        catch (Exception e) when (!lease.Lost.IsCancellationRequested && e is not FlyException { ErrorId: ErrorIds.WorkflowConflict } && machine.State is ChainState.Creating or ChainState.Applying or ChainState.Sealing)
        {
            // our own attempt failed or was cancelled: undo it now, while we hold the lease
            if (e is OperationCanceledException && machine.State == ChainState.Sealing)
            {
                machine.Fire(ChainTrigger.Interrupt, "cancelled while sealing; resumes on the next run");
            }
            else
            {
                try
                {
                    await RollBackAsync(machine, plan, device, e is OperationCanceledException ? "cancelled" : null, e.Message, context with { CancellationToken = CancellationToken.None })
                        .ConfigureAwait(false);
                }
                catch (FlyException faulty) when (faulty.ErrorId == ErrorIds.ChainFaulty)
                {
                    // recorded as Faulty; the caller hears the original failure
                    context.Operation.WriteWarning(faulty.Message);
                }
            }

            throw;
        }
    }

    private async Task RollBackAsync(PersistedWorkflow<ChainState, ChainTrigger> machine, ChainPlan plan, string? device, string? detail, string? error, StepContext context)
    {
        // never delete a device for a workflow another run now owns
        if (workflows.Find(WorkflowKinds.MakeChain, plan.ChainId)?.RunId != machine.RunId)
        {
            throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.ResourceBusy, $"{plan} was taken over by another run; not rolling it back.", plan.ChainId);
        }

        try
        {
            await StepRetry.RunAsync(options, context, $"Deleting the half-made device of {plan}", s => steps.DiscardChainDeviceAsync(plan, device, s)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            machine.Fire(ChainTrigger.Fault, detail, $"{error ?? detail}; deleting the half-made device failed: {e.Message}", errorId: ErrorIds.ChainFaulty);
            throw new FlyException(ErrorIds.ChainFaulty, FlyErrorCategory.DeviceError, $"{plan} is Faulty: its half-made device could not be deleted: {e.Message}", plan.ChainId, e);
        }

        machine.Fire(ChainTrigger.RollBack, detail, error, (c, t) => LayerChainRepository.SetDevice(c, t, plan.ChainId, null));
    }
}
