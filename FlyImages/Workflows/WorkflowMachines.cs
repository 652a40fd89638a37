using FlyImages.Engine;
using Stateless;

namespace FlyImages.Workflows;

/// <summary>
/// The transition graphs of every workflow kind, in one place. The runners build their machines with
/// these (state read from and written to the store); the graph export builds throw-away machines
/// with the same configuration, so the published diagrams are the code.
/// </summary>
public static class WorkflowMachines
{
    /// <summary>The image workflows' kinds, for the engine: their graphs, final states and crash recovery.</summary>
    public static WorkflowRegistry Registry { get; } = new(
        new WorkflowKind<InstallState, InstallTrigger>(WorkflowKinds.InstallImage, ConfigureInstall, InstallTrigger.Interrupt,
            InstallState.Ready, InstallState.Failed, InstallState.Rejected),
        new WorkflowKind<ChainState, ChainTrigger>(WorkflowKinds.MakeChain, ConfigureChain, ChainTrigger.Interrupt, ChainState.Sealed, ChainState.Faulty)
            .RecoverIn(ChainState.Creating, WorkflowRecovery.RollBackChainAsync)
            .RecoverIn(ChainState.Applying, WorkflowRecovery.RollBackChainAsync)
            .RecoverIn(ChainState.Deleting, WorkflowRecovery.FinishChainDeletionAsync),
        new WorkflowKind<SnapshotState, SnapshotTrigger>(WorkflowKinds.Snapshot, ConfigureSnapshot, SnapshotTrigger.Interrupt,
            SnapshotState.Active, SnapshotState.Removed, SnapshotState.Failed));

    public static void ConfigureInstall(StateMachine<InstallState, InstallTrigger> m)
    {
        ArgumentNullException.ThrowIfNull(m);
        // Save-FlyImage records its outcome only where no install decided (Pending, Failed): never over
        // Ready, Rejected or a run in flight. Removing the pool of an install's chains undoes it (not a
        // Rejected one: it stays Rejected, nothing of it is in the pool).
        m.Configure(InstallState.Pending)
            .Permit(InstallTrigger.Start, InstallState.Resolving)
            .Permit(InstallTrigger.SaveFailed, InstallState.Failed);
        foreach (var (working, next, done) in new[]
                 {
                     (InstallState.Resolving, InstallState.Fetching, InstallTrigger.Resolved),
                     (InstallState.Fetching, InstallState.Unpacking, InstallTrigger.Fetched),
                     (InstallState.Unpacking, InstallState.Ready, InstallTrigger.Unpacked),
                 })
        {
            m.Configure(working)
                .Permit(done, next)
                .Permit(InstallTrigger.Fail, InstallState.Failed)
                .Permit(InstallTrigger.Reject, InstallState.Rejected)
                .PermitReentry(InstallTrigger.Interrupt)
                .PermitReentry(InstallTrigger.Resume)
                .Permit(InstallTrigger.PoolRemoved, InstallState.Pending);
        }

        m.Configure(InstallState.Ready)
            .Permit(InstallTrigger.Reverify, InstallState.Resolving)
            .Permit(InstallTrigger.PoolRemoved, InstallState.Pending);
        m.Configure(InstallState.Failed)
            .Permit(InstallTrigger.Retry, InstallState.Resolving)
            .Permit(InstallTrigger.ForceRetry, InstallState.Resolving)
            .Permit(InstallTrigger.Saved, InstallState.Pending)
            .PermitReentry(InstallTrigger.SaveFailed)
            .Permit(InstallTrigger.PoolRemoved, InstallState.Pending);
        m.Configure(InstallState.Rejected)
            .Permit(InstallTrigger.ForceRetry, InstallState.Resolving);

        // Remove-FlyImage or a collection forgets the image (from any state: an interrupted install too, under its lease)
        m.Configure(InstallState.Pending)
            .PermitReentry(InstallTrigger.Remove);
        foreach (var state in new[] { InstallState.Resolving, InstallState.Fetching, InstallState.Unpacking, InstallState.Ready, InstallState.Failed, InstallState.Rejected })
        {
            m.Configure(state).Permit(InstallTrigger.Remove, InstallState.Pending);
        }
    }

    public static void ConfigureChain(StateMachine<ChainState, ChainTrigger> m)
    {
        ArgumentNullException.ThrowIfNull(m);
        m.Configure(ChainState.Pending)
            .Permit(ChainTrigger.Create, ChainState.Creating);
        // a half-made device cannot be resumed: it is rolled back (deleted) or, failing that, Faulty
        StateMachine<ChainState, ChainTrigger>.StateConfiguration Making(ChainState making, ChainTrigger done, ChainState next) => m.Configure(making)
            .Permit(done, next)
            .Permit(ChainTrigger.RollBack, ChainState.Pending)
            .Permit(ChainTrigger.Fault, ChainState.Faulty);
        Making(ChainState.Creating, ChainTrigger.Created, ChainState.Applying)
            .Permit(ChainTrigger.PoolRemoved, ChainState.Pending);
        Making(ChainState.Applying, ChainTrigger.Applied, ChainState.Sealing)
            .Permit(ChainTrigger.PoolRemoved, ChainState.Pending);
        // sealing is idempotent: an interrupted seal resumes
        Making(ChainState.Sealing, ChainTrigger.Seal, ChainState.Sealed)
            .PermitReentry(ChainTrigger.Interrupt)
            .PermitReentry(ChainTrigger.Resume)
            .Permit(ChainTrigger.PoolRemoved, ChainState.Pending);
        // removing the pool the device was in leaves a chain with nothing made: Pending again
        m.Configure(ChainState.Sealed)
            .Permit(ChainTrigger.PoolRemoved, ChainState.Pending);
        m.Configure(ChainState.Faulty)
            .Permit(ChainTrigger.Repair, ChainState.Pending)
            .Permit(ChainTrigger.PoolRemoved, ChainState.Pending)
            .Permit(ChainTrigger.Delete, ChainState.Deleting);

        // nothing uses the chain: its device is deleted; a crash while Deleting is finished by the next run
        m.Configure(ChainState.Sealed)
            .Permit(ChainTrigger.Delete, ChainState.Deleting);
        m.Configure(ChainState.Pending)
            .Permit(ChainTrigger.Delete, ChainState.Deleting);
        m.Configure(ChainState.Deleting)
            .Permit(ChainTrigger.Deleted, ChainState.Pending)
            .Permit(ChainTrigger.Fault, ChainState.Faulty);
    }

    public static void ConfigureSnapshot(StateMachine<SnapshotState, SnapshotTrigger> m)
    {
        ArgumentNullException.ThrowIfNull(m);
        m.Configure(SnapshotState.Pending)
            .Permit(SnapshotTrigger.Create, SnapshotState.Creating);
        // a step in flight: done moves on, a failure is Failed, an interrupted one resumes (the steps are idempotent)
        void Working(SnapshotState working, SnapshotTrigger done, SnapshotState next) => m.Configure(working)
            .Permit(done, next)
            .Permit(SnapshotTrigger.Fail, SnapshotState.Failed)
            .PermitReentry(SnapshotTrigger.Interrupt)
            .PermitReentry(SnapshotTrigger.Resume);
        Working(SnapshotState.Creating, SnapshotTrigger.Created, SnapshotState.Activating);
        Working(SnapshotState.Activating, SnapshotTrigger.Activated, SnapshotState.Active);
        m.Configure(SnapshotState.Active)
            .Permit(SnapshotTrigger.Remove, SnapshotState.Removing);
        Working(SnapshotState.Removing, SnapshotTrigger.Removed, SnapshotState.Removed);
        m.Configure(SnapshotState.Failed)
            .Permit(SnapshotTrigger.Retry, SnapshotState.Creating)
            .Permit(SnapshotTrigger.Remove, SnapshotState.Removing);
        m.Configure(SnapshotState.Removed)
            .Permit(SnapshotTrigger.Create, SnapshotState.Creating);
    }

    /// <summary>A Markdown section with every kind's Mermaid diagram, for the README and docs/workflows.md.</summary>
    public static string Markdown()
    {
        var text = new System.Text.StringBuilder();
        text.Append("# Workflow state machines\n\n");
        text.Append("Generated from the code by `WorkflowMachines.Markdown()`. The test `Graphs_in_docs_are_current` fails while this file differs from it;\n");
        text.Append("`FLYIMAGES_UPDATE_DOCS=1 dotnet test tests/FlyImages.Tests --filter FullyQualifiedName~GraphTests` rewrites it (and the README's diagram) to commit.\n");
        foreach (var kind in Registry.Kinds.Select(k => k.Name))
        {
            text.Append("\n## ").Append(kind).Append("\n\n```mermaid\n");
            text.Append(Registry.Mermaid(kind).ReplaceLineEndings("\n").TrimEnd('\n'));
            text.Append("\n```\n");
        }

        return text.ToString();
    }
}
