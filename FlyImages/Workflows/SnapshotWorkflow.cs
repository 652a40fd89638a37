using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.State;

namespace FlyImages.Workflows;

/// <summary>What a snapshot step is given.</summary>
public sealed record SnapshotPlan(string Name, string Image, string Source, string TopChainId, string TopDevice, long SnapshotId)
{
    public override string ToString() => $"snapshot '{Name}' of '{Image}'";
}

/// <summary>
/// The device work of a snapshot (the thin pools implement it). Every step is idempotent: after a
/// crash it may be asked again for work it finished; name devices from <see cref="SnapshotPlan.SnapshotId"/>.
/// </summary>
public interface ISnapshotSteps
{
    /// <summary>Makes a thin snapshot of <see cref="SnapshotPlan.TopDevice"/>; returns its device reference.</summary>
    Task<string> CreateSnapshotAsync(SnapshotPlan plan, StepContext context);

    /// <summary>Activates it (dm device, or a loop device on block files); returns the device path.</summary>
    Task<string> ActivateAsync(SnapshotPlan plan, string device, StepContext context);

    /// <summary>Deactivates and deletes it; <paramref name="device"/> is null when it was never recorded. Succeeds when nothing is left.</summary>
    Task RemoveAsync(SnapshotPlan plan, string? device, StepContext context);
}

/// <summary>
/// New/Remove of thin snapshots as persisted workflows (<see cref="WorkflowMachines.ConfigureSnapshot"/>)
/// under the snapshot's lease: the same name on the same image returns the existing snapshot; an
/// interrupted create or activation resumes (the steps are idempotent); a failed one is removed and
/// recorded Failed with why.
/// </summary>
public sealed class SnapshotWorkflow(FlyStore store, ISnapshotSteps steps, WorkflowOptions? options = null)
{
    private readonly WorkflowOptions options = options ?? WorkflowOptions.Default;
    private readonly WorkflowRepository workflows = new(store);
    private readonly LeaseManager leases = new(store);
    private readonly SnapshotRepository snapshots = new(store);

    public static string KeyOf(string source, string image, string name) => $"{InstallWorkflow.KeyOf(source, image)}#{name}";

    /// <summary>Snapshots, optionally of one image (source and name), by image then name.</summary>
    public IReadOnlyList<ThinSnapshot> List(string? source = null, string? image = null) => snapshots.List(source, image);

    public ThinSnapshot? Find(string source, string image, string name) => snapshots.Find(source, image, name);

    /// <summary>Returns the Active snapshot <paramref name="name"/> of the Ready image, making and activating it if needed.</summary>
    public async Task<ThinSnapshot> EnsureActiveAsync(string source, string image, string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        ImageUse.Touch(store, source, image); // a snapshot is a use: the collector spares recently used images
        if (Find(source, image, name) is { State: SnapshotState.Active } existing)
        {
            return existing;
        }

        var key = KeyOf(source, image, name);
        await using var lease = await leases.AcquireAsync(new LeaseKey(WorkflowKinds.Snapshot, key), options.LeaseTtl, context.CancellationToken,
            owner => context.WriteVerbose($"Waiting for {owner} to finish snapshot '{name}' of '{image}'.")).ConfigureAwait(false);
        if (Find(source, image, name) is { State: SnapshotState.Active } meanwhile)
        {
            return meanwhile;
        }

        if (workflows.Find(WorkflowKinds.Snapshot, key) is { } known && WorkflowKinds.IsIntermediate(known.Kind, known.State) && known.InterruptedAt is null)
        {
            // we hold the lease, so the run that left it here is gone: journal that before resuming
            await new WorkflowRecovery(store) { LeaseTtl = options.LeaseTtl }.RecoverOneAsync(known, lease.TakenOverFrom, context.CancellationToken).ConfigureAwait(false);
        }

        var top = TopChain(store, source, image);
        var id = snapshots.Record(source, image, name, top.ChainId);
        var plan = new SnapshotPlan(name, image, source, top.ChainId, top.Device!, id);
        var run = workflows.BeginRun(WorkflowKinds.Snapshot, key, image, source);
        var machine = new PersistedWorkflow<SnapshotState, SnapshotTrigger>(store, run, WorkflowMachines.ConfigureSnapshot);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lease.Lost);
        var step = new StepContext(context, linked.Token, run.RunId);
        string? device = Find(source, image, name)?.Device;
        try
        {
            if (machine.State is SnapshotState.Creating or SnapshotState.Activating)
            {
                machine.Fire(SnapshotTrigger.Resume, "resuming: the steps are idempotent");
            }

            while (true)
            {
                switch (machine.State)
                {
                    case SnapshotState.Active:
                        return Find(source, image, name)!;
                    case SnapshotState.Pending or SnapshotState.Removed:
                        machine.Fire(SnapshotTrigger.Create, $"snapshot of {top.Device} (chain {top.ChainId})");
                        break;
                    case SnapshotState.Failed:
                        machine.Fire(SnapshotTrigger.Retry, $"retrying after: {run.StateDetail}");
                        break;
                    case SnapshotState.Creating:
                        var made = await StepRetry.RunAsync(options, step, $"Creating {plan}", s => steps.CreateSnapshotAsync(plan, s)).ConfigureAwait(false);
                        device = made;
                        machine.Fire(SnapshotTrigger.Created, made, alsoWrite: (c, t) => SnapshotRepository.SetDevice(c, t, id, made, null));
                        break;
                    case SnapshotState.Activating:
                        var activated = device ?? throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.InvalidData, $"{plan} is Activating but has no device recorded.", name);
                        var path = await StepRetry.RunAsync(options, step, $"Activating {plan}", s => steps.ActivateAsync(plan, activated, s)).ConfigureAwait(false);
                        machine.Fire(SnapshotTrigger.Activated, path, alsoWrite: (c, t) => SnapshotRepository.SetDevice(c, t, id, activated, path));
                        break;
                    case SnapshotState.Removing:
                        throw new FlyException(ErrorIds.WorkflowConflict, FlyErrorCategory.InvalidOperation, $"{plan} is being removed; remove it first.", name);
                }
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested && !lease.Lost.IsCancellationRequested)
        {
            if (machine.CanFire(SnapshotTrigger.Interrupt))
            {
                machine.Fire(SnapshotTrigger.Interrupt, "cancelled; the next call resumes");
            }

            throw;
        }
        catch (Exception e) when (!lease.Lost.IsCancellationRequested && e is not FlyException { ErrorId: ErrorIds.WorkflowConflict } && machine.CanFire(SnapshotTrigger.Fail))
        {
            var why = $"{machine.State}: {e.Message}";
            try
            {
                await steps.RemoveAsync(plan, device, step with { CancellationToken = CancellationToken.None }).ConfigureAwait(false);
                machine.Fire(SnapshotTrigger.Fail, error: why, alsoWrite: (c, t) => SnapshotRepository.SetDevice(c, t, id, null, null), errorId: ErrorIds.SnapshotFailed);
            }
            catch (Exception cleanup) when (cleanup is not OperationCanceledException)
            {
                machine.Fire(SnapshotTrigger.Fail, error: $"{why}; removing the half-made snapshot failed: {cleanup.Message}", errorId: ErrorIds.SnapshotFailed);
            }

            throw new FlyException(ErrorIds.SnapshotFailed, e is FlyException f ? f.Category : FlyErrorCategory.NotSpecified, $"Snapshot '{name}' of '{image}' failed while {why}", name, e);
        }
    }

    /// <summary>Deactivates and deletes snapshot <paramref name="name"/>; false when there is none.</summary>
    public async Task<bool> RemoveAsync(string source, string image, string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var key = KeyOf(source, image, name);
        await using var lease = await leases.AcquireAsync(new LeaseKey(WorkflowKinds.Snapshot, key), options.LeaseTtl, context.CancellationToken).ConfigureAwait(false);
        var snapshot = Find(source, image, name);
        if (snapshot is null || snapshot.State == SnapshotState.Removed)
        {
            return false;
        }

        var run = workflows.BeginRun(WorkflowKinds.Snapshot, key, image, source);
        var machine = new PersistedWorkflow<SnapshotState, SnapshotTrigger>(store, run, WorkflowMachines.ConfigureSnapshot);
        var plan = new SnapshotPlan(name, image, source, snapshot.ChainId, "", snapshot.Id);
        var step = new StepContext(context, lease.Lost, run.RunId);
        switch (machine.State)
        {
            case SnapshotState.Pending:
                // never started: nothing was made
                snapshots.Delete(snapshot.Id);
                return true;
            case SnapshotState.Active or SnapshotState.Failed:
                machine.Fire(SnapshotTrigger.Remove);
                break;
            case SnapshotState.Removing:
                machine.Fire(SnapshotTrigger.Resume, "resuming the removal");
                break;
            case SnapshotState.Creating or SnapshotState.Activating:
                machine.Fire(SnapshotTrigger.Fail, error: "removed before it was active", errorId: ErrorIds.SnapshotFailed);
                machine.Fire(SnapshotTrigger.Remove);
                break;
        }

        await StepRetry.RunAsync(options, step, $"Removing {plan}", s => steps.RemoveAsync(plan, snapshot.Device, s)).ConfigureAwait(false);
        machine.Fire(SnapshotTrigger.Removed, snapshot.DevicePath, alsoWrite: (c, t) => SnapshotRepository.SetDevice(c, t, snapshot.Id, null, null));
        return true;
    }

    /// <summary>
    /// Throws ImageNotReady unless the image is installed (Ready, its top chain sealed). Asked before a pool is
    /// opened, so a snapshot of an image that is not installed says so whether or not the store has a pool.
    /// </summary>
    public static void RequireReady(FlyStore store, string source, string image) => TopChain(store, source, image);

    private static LayerChain TopChain(FlyStore store, string source, string image)
    {
        var state = new WorkflowRepository(store).Find(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(source, image))?.State;
        var chains = new LayerChainRepository(store).OfImage(source, image);
        if (state != nameof(InstallState.Ready) || chains.Count == 0 || chains[^1] is not { State: ChainState.Sealed, Device: not null } top)
        {
            throw new FlyException(ErrorIds.ImageNotReady, FlyErrorCategory.InvalidOperation, $"The image '{image}' is {state ?? "not installed"}, not Ready: install it first.", image)
            {
                RecommendedAction = "Run Install-FlyImage first.",
            };
        }

        return top;
    }
}
