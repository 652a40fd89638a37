using FlyImages.Engine;
using FlyImages.Operations;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

public sealed class PersistedWorkflowTests : IDisposable
{
    private readonly WorkflowHarness h = new();

    [Fact]
    public void A_snapshot_workflow_persists_its_state_and_recovery_interrupts_it_when_its_owner_died()
    {
        var repo = new WorkflowRepository(h.Store);
        var run = repo.BeginRun(WorkflowKinds.Snapshot, "s3://bucket/images/golang#web-1", "golang", WorkflowHarness.Source);
        var machine = new PersistedWorkflow<SnapshotState, SnapshotTrigger>(h.Store, run, WorkflowMachines.ConfigureSnapshot);
        machine.Fire(SnapshotTrigger.Create, "snapshot of chain 5");

        // a machine built later reads the state from the store, not from memory
        Assert.Equal(SnapshotState.Creating, new PersistedWorkflow<SnapshotState, SnapshotTrigger>(h.Store, run, WorkflowMachines.ConfigureSnapshot).State);

        // the owner's lease, then its death
        var ghost = new LeaseManager(h.Store) { Self = ProcessIdentity.Current with { Pid = int.MaxValue } };
        Assert.NotNull(ghost.TryAcquire(new LeaseKey(WorkflowKinds.Snapshot, run.Key), TimeSpan.FromMinutes(5)));
        var recovered = Assert.Single(WorkflowRecovery.Recover(h.Store));
        Assert.Equal(RecoveryOutcome.Interrupted, recovered.Outcome);
        var after = repo.Find(WorkflowKinds.Snapshot, run.Key)!;
        Assert.Equal(nameof(SnapshotState.Creating), after.State);
        Assert.NotNull(after.InterruptedAt);
        Assert.NotEqual(run.RunId, after.RunId);
        Assert.Equal(2, after.Attempt);
        Assert.Contains("process gone", h.Journal("golang")[^1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Runs_are_numbered_and_each_run_stamps_its_own_journal_entries()
    {
        var repo = new WorkflowRepository(h.Store);
        var first = repo.BeginRun(WorkflowKinds.InstallImage, "k", "img", null);
        new PersistedWorkflow<InstallState, InstallTrigger>(h.Store, first, WorkflowMachines.ConfigureInstall).Fire(InstallTrigger.Start);
        var second = repo.BeginRun(WorkflowKinds.InstallImage, "k", "img", null);
        new PersistedWorkflow<InstallState, InstallTrigger>(h.Store, second, WorkflowMachines.ConfigureInstall).Fire(InstallTrigger.Fail, error: "boom");
        Assert.Equal((1, 2), (first.Attempt, second.Attempt));
        Assert.Equal([first.RunId, second.RunId], h.Journal("img").Select(e => e.RunId));
        Assert.Equal(("Failed", "boom"), (repo.Find(WorkflowKinds.InstallImage, "k")!.State, repo.Find(WorkflowKinds.InstallImage, "k")!.StateDetail));
        Assert.Equal(first.Id, second.Id); // one machine per (kind, key)
    }

    public void Dispose() => h.Dispose();
}
