using FlyImages.Engine;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

/// <summary>
/// A run is "killed" at each state: its step hangs forever (the process state is abandoned, nothing
/// cleans up) and its lease rows are pointed at a pid that cannot exist. The next run takes the
/// leases over, resumes from the last completed step and ends Ready without redoing completed steps.
/// </summary>
public sealed class CrashRecoveryTests : IDisposable
{
    private readonly WorkflowHarness h = new();

    public static TheoryData<string, string, string?> Crashes => new()
    {
        // hung call, install state at the crash, chain 4's state at the crash
        { "resolve golang", nameof(InstallState.Resolving), null },
        { "fetch golang/3.tar", nameof(InstallState.Fetching), null },
        { "create 4", nameof(InstallState.Unpacking), nameof(ChainState.Creating) },
        { "apply 4", nameof(InstallState.Unpacking), nameof(ChainState.Applying) },
        { "seal 4", nameof(InstallState.Unpacking), nameof(ChainState.Sealing) },
    };

    [Theory]
    [MemberData(nameof(Crashes))]
    public async Task A_run_killed_in_any_state_resumes_and_ends_Ready_without_redoing_completed_steps(string hangAt, string stateAtCrash, string? chainStateAtCrash)
    {
        var image = WorkflowHarness.Image("golang");
        var first = await CrashAsync(image, hangAt, stateAtCrash, chainStateAtCrash);

        var second = new FakeSteps();
        var result = await h.RunAsync(image, second, WorkflowHarness.FastOptions with { FetchParallelism = 1 });

        Assert.Equal(InstallState.Ready, result.State);
        Assert.All(result.Chains, c => Assert.Equal(ChainState.Sealed, c.State));
        // every blob fetched once in all: the second run fetched exactly what the first had not finished
        foreach (var layer in image.Layers)
        {
            Assert.Equal(1, first.CompletedCount($"fetch {layer.Key}") + second.CompletedCount($"fetch {layer.Key}"));
        }

        // sealed chains are never touched again; the chain caught half-made is rolled back and remade, a seal is resumed
        for (var depth = 1; depth <= 5; depth++)
        {
            if (first.CompletedCount($"seal {depth}") == 1)
            {
                Assert.DoesNotContain(second.Calls, c => c.EndsWith($" {depth}", StringComparison.Ordinal));
            }
        }

        switch (chainStateAtCrash)
        {
            case nameof(ChainState.Creating) or nameof(ChainState.Applying):
                Assert.Equal(1, second.Count("discard 4"));
                Assert.Equal(1, second.Count("create 4"));
                break;
            case nameof(ChainState.Sealing):
                Assert.Equal(0, second.Count("discard 4"));
                Assert.Equal(0, second.Count("create 4") + second.Count("apply 4"));
                Assert.Equal(1, second.Count("seal 4"));
                break;
        }

        var journal = h.Journal("golang");
        var install = journal.Where(e => e.Kind == WorkflowKinds.InstallImage).ToList();
        Assert.Contains(install, e => e.Trigger == nameof(InstallTrigger.Interrupt) && e.From == stateAtCrash && e.Detail!.Contains("2147483647", StringComparison.Ordinal));
        Assert.Contains(install, e => e.Trigger == nameof(InstallTrigger.Resume) && e.From == stateAtCrash);
        Assert.Equal(nameof(InstallState.Ready), install[^1].To);
        if (chainStateAtCrash is nameof(ChainState.Creating) or nameof(ChainState.Applying))
        {
            Assert.Contains(journal, e => e.Kind == WorkflowKinds.MakeChain && e.Trigger == nameof(ChainTrigger.RollBack) && e.From == chainStateAtCrash);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Recovery_marks_orphans_interrupted_and_rolls_back_or_faults_half_made_chains(bool compensationRegistered)
    {
        var image = WorkflowHarness.Image("golang");
        await CrashAsync(image, "apply 4", nameof(InstallState.Unpacking), nameof(ChainState.Applying));

        var discarded = new List<string>();
        var registry = new CompensationRegistry();
        if (compensationRegistered)
        {
            foreach (var state in new[] { nameof(ChainState.Creating), nameof(ChainState.Applying) })
            {
                registry.Register(WorkflowKinds.MakeChain, state, (w, _) =>
                {
                    discarded.Add(w.Key);
                    return Task.CompletedTask;
                });
            }
        }

        var report = await new WorkflowRecovery(h.Store, registry).RecoverAsync(CancellationToken.None);
        var chain4 = new LayerChainRepository(h.Store).OfImage(WorkflowHarness.Source, "golang")[3];
        Assert.Equal(2, report.Count);
        Assert.Contains(report, r => r.Kind == WorkflowKinds.InstallImage && r.Outcome == RecoveryOutcome.Interrupted && r.State == nameof(InstallState.Unpacking));
        var chainOutcome = Assert.Single(report, r => r.Kind == WorkflowKinds.MakeChain);
        Assert.Equal(chain4.ChainId, chainOutcome.Key);
        if (compensationRegistered)
        {
            Assert.Equal(RecoveryOutcome.RolledBack, chainOutcome.Outcome);
            Assert.Equal([chain4.ChainId], discarded);
            Assert.Equal(ChainState.Pending, chain4.State);
            Assert.Null(chain4.Device);
        }
        else
        {
            Assert.Equal(RecoveryOutcome.Faulty, chainOutcome.Outcome);
            Assert.Equal(ChainState.Faulty, chain4.State);
        }

        var workflow = h.Workflow("golang")!;
        Assert.Equal(nameof(InstallState.Unpacking), workflow.State);
        Assert.NotNull(workflow.InterruptedAt);
        Assert.Equal(Model.ImageState.Unpacking, new FlyImages.State.ImageRepository(h.Store).Find(WorkflowHarness.Source, "golang")!.State);

        // recovery is idempotent: nothing left to do
        Assert.Empty(WorkflowRecovery.Recover(h.Store));

        // the next install repairs (Faulty) or just remakes (Pending) chain 4 and ends Ready
        var next = new FakeSteps();
        var result = await h.RunAsync(image, next);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Equal(compensationRegistered ? 0 : 1, next.Count("discard 4"));
        Assert.Equal(1, next.Count("create 4"));
        Assert.Equal(0, next.Count("create 3"));
        if (!compensationRegistered)
        {
            Assert.Contains(h.Journal("golang"), e => e.Trigger == nameof(ChainTrigger.Repair));
        }
    }

    [Fact]
    public async Task Recovery_leaves_runs_with_a_live_owner_alone()
    {
        var image = WorkflowHarness.Image("golang");
        var gate = new TaskCompletionSource();
        var steps = new FakeSteps { Before = (call, _) => call == "apply 2" ? gate.Task : Task.CompletedTask };
        var running = h.RunAsync(image, steps);
        await WorkflowHarness.WaitUntil(() => steps.Calls.Contains("apply 2"), "apply 2 to start");

        Assert.Empty(await new WorkflowRecovery(h.Store).RecoverAsync(CancellationToken.None));
        Assert.Null(h.Workflow("golang")!.InterruptedAt);

        gate.SetResult();
        Assert.Equal(InstallState.Ready, (await running).State);
    }

    /// <summary>Runs an install that hangs forever at <paramref name="hangAt"/>, waits for the expected states, then "kills" it.</summary>
    private async Task<FakeSteps> CrashAsync(Model.Image image, string hangAt, string stateAtCrash, string? chainStateAtCrash)
    {
        var never = new TaskCompletionSource();
        var steps = new FakeSteps { Before = (call, _) => call == hangAt ? never.Task : Task.CompletedTask };
        _ = h.RunAsync(image, steps, WorkflowHarness.FastOptions with { FetchParallelism = 1 });

        var chains = new LayerChainRepository(h.Store);
        var chainIds = ChainIds.Compute(image.Layers.Select(FakeSteps.DigestOf));
        await WorkflowHarness.WaitUntil(() =>
            steps.Calls.Contains(hangAt)
            && h.Workflow("golang")?.State == stateAtCrash
            && (chainStateAtCrash is null || chains.Find(chainIds[3])?.State.ToString() == chainStateAtCrash)
            // quiescent: everything the hung step does not block has finished
            && (hangAt != "fetch golang/3.tar" || chains.Find(chainIds[1])?.State == ChainState.Sealed),
            $"the run to hang at '{hangAt}' in {stateAtCrash}");
        h.KillLeaseOwners();
        return steps;
    }

    public void Dispose() => h.Dispose();

    [Fact]
    public async Task The_usual_registry_rolls_back_a_half_made_chain_with_the_steps_discard()
    {
        var image = WorkflowHarness.Image("golang");
        await CrashAsync(image, "create 4", nameof(InstallState.Unpacking), nameof(ChainState.Creating));
        var steps = new FakeSteps();
        var report = await new WorkflowRecovery(h.Store, CompensationRegistry.ForChains(h.Store, steps)).RecoverAsync(CancellationToken.None);
        Assert.Contains(report, r => r.Kind == WorkflowKinds.MakeChain && r.Outcome == RecoveryOutcome.RolledBack);
        Assert.Equal(["discard 4"], steps.Calls);
    }
}
