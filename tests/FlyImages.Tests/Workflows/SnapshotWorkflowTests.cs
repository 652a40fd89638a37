using System.Collections.Concurrent;
using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

public sealed class SnapshotWorkflowTests : IDisposable
{
    private readonly WorkflowHarness h = new();
    private readonly FakeSnapshotSteps steps = new();

    private SnapshotWorkflow Snapshots => new(h.Store, steps, WorkflowHarness.FastOptions);

    [Fact]
    public async Task A_snapshot_needs_a_Ready_image()
    {
        var e = await Assert.ThrowsAsync<FlyException>(() => Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance));
        Assert.Equal(ErrorIds.ImageNotReady, e.ErrorId);
        Assert.Empty(steps.Calls);
    }

    [Fact]
    public async Task The_same_name_on_the_same_image_returns_the_existing_snapshot()
    {
        var installed = await h.RunAsync(WorkflowHarness.Image("golang"), new FakeSteps());
        var first = await Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance);
        Assert.Equal(SnapshotState.Active, first.State);
        Assert.Equal(installed.Chains[^1].ChainId, first.ChainId);
        Assert.Equal($"/dev/mapper/snap-{first.Id}", first.DevicePath);
        Assert.Equal(["create web-1", "activate web-1"], steps.Calls);

        var again = await Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance);
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(2, steps.Calls.Count);
        Assert.Equal(["Pending>Creating", "Creating>Activating", "Activating>Active"],
            h.Journal("golang").Where(e => e.Kind == WorkflowKinds.Snapshot).Select(e => $"{e.From}>{e.To}"));

        var second = await Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-2", NullOperationContext.Instance);
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(["web-1", "web-2"], Snapshots.List(WorkflowHarness.Source, "golang").Select(s => s.Name));
    }

    [Fact]
    public async Task A_failed_activation_is_cleaned_up_recorded_Failed_and_retried()
    {
        await h.RunAsync(WorkflowHarness.Image("golang"), new FakeSteps());
        steps.FailActivate = true;
        var e = await Assert.ThrowsAsync<FlyException>(() => Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance));
        Assert.Equal(ErrorIds.SnapshotFailed, e.ErrorId);
        var failed = Snapshots.Find(WorkflowHarness.Source, "golang", "web-1")!;
        Assert.Equal(SnapshotState.Failed, failed.State);
        Assert.Contains("Activating: no loop device free", failed.StateDetail, StringComparison.Ordinal);
        Assert.Null(failed.Device);
        Assert.Equal("remove web-1", steps.Calls[^1]);

        steps.FailActivate = false;
        var ok = await Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance);
        Assert.Equal(SnapshotState.Active, ok.State);
        Assert.Equal(failed.Id, ok.Id);
    }

    [Fact]
    public async Task An_activation_interrupted_by_a_crash_resumes_without_making_the_snapshot_again()
    {
        await h.RunAsync(WorkflowHarness.Image("golang"), new FakeSteps());
        var never = new TaskCompletionSource();
        steps.Hang = never.Task;
        _ = Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance);
        await WorkflowHarness.WaitUntil(() => steps.Calls.Contains("activate web-1"), "activation to start");
        h.KillLeaseOwners();

        var fresh = new FakeSnapshotSteps();
        var snapshot = await new SnapshotWorkflow(h.Store, fresh, WorkflowHarness.FastOptions).EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance);
        Assert.Equal(SnapshotState.Active, snapshot.State);
        Assert.Equal(["activate web-1"], fresh.Calls);
        var journal = h.Journal("golang").Where(e => e.Kind == WorkflowKinds.Snapshot).ToList();
        Assert.Contains(journal, e => e.Trigger == nameof(SnapshotTrigger.Interrupt) && e.Detail!.Contains("process gone", StringComparison.Ordinal));
        Assert.Contains(journal, e => e.Trigger == nameof(SnapshotTrigger.Resume));
    }

    [Fact]
    public async Task Remove_deactivates_and_a_removed_name_can_be_made_again()
    {
        await h.RunAsync(WorkflowHarness.Image("golang"), new FakeSteps());
        var made = await Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance);
        Assert.True(await Snapshots.RemoveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance));
        Assert.Equal("remove web-1", steps.Calls[^1]);
        Assert.Equal(made.Device, steps.RemovedDevices.Single());
        var removed = Snapshots.Find(WorkflowHarness.Source, "golang", "web-1")!;
        Assert.Equal((SnapshotState.Removed, null, null), (removed.State, removed.Device, removed.DevicePath));
        Assert.False(await Snapshots.RemoveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance));
        Assert.False(await Snapshots.RemoveAsync(WorkflowHarness.Source, "golang", "nope", NullOperationContext.Instance));

        var again = await Snapshots.EnsureActiveAsync(WorkflowHarness.Source, "golang", "web-1", NullOperationContext.Instance);
        Assert.Equal(SnapshotState.Active, again.State);
    }

    public void Dispose() => h.Dispose();

    private sealed class FakeSnapshotSteps : ISnapshotSteps
    {
        private readonly ConcurrentQueue<string> calls = new();

        public List<string> Calls => calls.ToList();

        public ConcurrentQueue<string?> RemovedDevices { get; } = new();

        public bool FailActivate { get; set; }

        public Task? Hang { get; set; }

        public Task<string> CreateSnapshotAsync(SnapshotPlan plan, StepContext context)
        {
            calls.Enqueue($"create {plan.Name}");
            Assert.StartsWith("fly-5-", plan.TopDevice, StringComparison.Ordinal);
            return Task.FromResult($"snap-{plan.SnapshotId}");
        }

        public async Task<string> ActivateAsync(SnapshotPlan plan, string device, StepContext context)
        {
            calls.Enqueue($"activate {plan.Name}");
            if (Hang is { } hang)
            {
                await hang;
            }

            return FailActivate ? throw new FlyException("NoLoopDevice", FlyErrorCategory.ResourceUnavailable, "no loop device free") : $"/dev/mapper/{device}";
        }

        public Task RemoveAsync(SnapshotPlan plan, string? device, StepContext context)
        {
            calls.Enqueue($"remove {plan.Name}");
            RemovedDevices.Enqueue(device);
            return Task.CompletedTask;
        }
    }
}
