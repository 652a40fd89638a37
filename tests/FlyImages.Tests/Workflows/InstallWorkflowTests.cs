using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.State;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

public sealed class InstallWorkflowTests : IDisposable
{
    private readonly WorkflowHarness h = new();

    [Fact]
    public async Task An_install_goes_Pending_to_Ready_and_every_transition_is_journaled()
    {
        var steps = new FakeSteps();
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), steps);

        Assert.True(result.DidWork);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Equal(ImageState.Ready, result.Image.State);
        Assert.Equal(5, result.Chains.Count);
        Assert.All(result.Chains, c => Assert.Equal(ChainState.Sealed, c.State));
        Assert.Equal(ChainIds.Compute(result.Image.Layers.Select(FakeSteps.DigestOf)), result.Chains.Select(c => c.ChainId));
        Assert.All(result.Image.Layers, l => Assert.Equal(FakeSteps.DigestOf(l), l.Digest));

        var journal = h.Journal("golang");
        var install = journal.Where(e => e.Kind == WorkflowKinds.InstallImage).Select(e => $"{e.From}>{e.To}:{e.Trigger}").ToList();
        Assert.Equal(["Pending>Resolving:Start", "Resolving>Fetching:Resolved", "Fetching>Unpacking:Fetched", "Unpacking>Ready:Unpacked"], install);
        foreach (var chain in result.Chains)
        {
            var made = journal.Where(e => e.Kind == WorkflowKinds.MakeChain && e.Key == chain.ChainId).Select(e => $"{e.From}>{e.To}").ToList();
            Assert.Equal(["Pending>Creating", "Creating>Applying", "Applying>Sealing", "Sealing>Sealed"], made);
        }

        Assert.All(journal, e =>
        {
            Assert.Equal(Environment.ProcessId, e.ProcessId);
            Assert.False(string.IsNullOrEmpty(e.Host));
            Assert.True(e.Duration >= TimeSpan.Zero);
            Assert.Equal(WorkflowHarness.Source, e.Source);
        });
        Assert.Single(journal.Select(e => e.RunId).Where((_, i) => journal[i].Kind == WorkflowKinds.InstallImage).Distinct());
        // newest last
        Assert.Equal(journal.OrderBy(e => e.Id).Select(e => e.Id), journal.Select(e => e.Id));
    }

    [Fact]
    public async Task A_Ready_image_is_one_lookup_no_step_no_journal_entry()
    {
        await h.RunAsync(WorkflowHarness.Image("golang"), new FakeSteps());
        var before = h.Journal().Count;
        var again = new FakeSteps();
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), again);
        Assert.False(result.DidWork);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Empty(again.Calls);
        Assert.Equal(before, h.Journal().Count);
    }

    [Fact]
    public async Task A_Ready_image_whose_source_changed_is_installed_again()
    {
        await h.RunAsync(WorkflowHarness.Image("golang"), new FakeSteps());
        var changed = WorkflowHarness.Image("golang");
        var layers = changed.Layers.ToList();
        layers[4] = new Layer { Index = 5, Key = "golang/5.tar", Size = 9999, ETag = "golang-5-v2" };
        changed = new Image { Name = changed.Name, Source = changed.Source, Layers = layers };

        var steps = new FakeSteps();
        var result = await h.RunAsync(changed, steps);
        Assert.True(result.DidWork);
        Assert.Equal(InstallState.Ready, result.State);
        // only the changed layer is fetched and only its chain made; the rest are kept
        Assert.Equal(["fetch golang/5.tar"], steps.Calls.Where(c => c.StartsWith("fetch ", StringComparison.Ordinal)));
        Assert.Equal(["create 5"], steps.Calls.Where(c => c.StartsWith("create ", StringComparison.Ordinal)));
        Assert.Equal(FakeSteps.DigestOf(layers[4]), result.Image.Layers[4].Digest);
        Assert.Contains(h.Journal("golang"), e => e.Trigger == nameof(InstallTrigger.Reverify) && e.Detail!.Contains("changed", StringComparison.Ordinal));

        // and then it is Ready as it is now
        Assert.False((await h.RunAsync(changed, new FakeSteps())).DidWork);
    }

    [Fact]
    public async Task Progress_counts_fetched_blobs_and_sealed_chains_and_digests_survive_a_retry()
    {
        var reports = new System.Collections.Concurrent.ConcurrentQueue<InstallProgress>();
        var fail = true;
        var steps = new FakeSteps { Before = (call, _) => fail && call == "apply 5" ? throw new InvalidOperationException("bug") : Task.CompletedTask };
        var options = WorkflowHarness.FastOptions with { OnProgress = reports.Enqueue };
        await Assert.ThrowsAsync<FlyException>(() => h.RunAsync(WorkflowHarness.Image("golang"), steps, options));
        fail = false;
        reports.Clear();
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), steps, options);

        var last = reports.Last();
        Assert.Equal(new InstallProgress("golang", InstallState.Ready, 5, 5, 5), last);
        Assert.Contains(reports, r => r.State == InstallState.Fetching);
        Assert.All(result.Image.Layers, l => Assert.Equal(FakeSteps.DigestOf(l), l.Digest));
    }

    [Fact]
    public async Task Images_sharing_layers_share_their_chains()
    {
        var steps = new FakeSteps();
        var golang = await h.RunAsync(WorkflowHarness.Image("golang"), steps);
        var node = await h.RunAsync(WorkflowHarness.Image("node"), steps);

        Assert.Equal(golang.Chains.Take(3).Select(c => c.ChainId), node.Chains.Take(3).Select(c => c.ChainId));
        Assert.NotEqual(golang.Chains[3].ChainId, node.Chains[3].ChainId);
        Assert.Equal(golang.Chains[0].Device, node.Chains[0].Device);
        // chains 1-3 made once, 4 and 5 once per image
        Assert.Equal(1, steps.Count("create 1"));
        Assert.Equal(1, steps.Count("apply 3"));
        Assert.Equal(2, steps.Count("create 4"));
        Assert.Equal(2, steps.Count("seal 5"));
        var repo = new LayerChainRepository(h.Store);
        Assert.Equal(["golang", "node"], repo.ImagesUsing(golang.Chains[2].ChainId));
        Assert.Equal(["golang"], repo.ImagesUsing(golang.Chains[4].ChainId));
        Assert.Equal(7, repo.List().Count);
    }

    [Fact]
    public async Task Transient_failures_are_retried_inside_the_step()
    {
        var failures = 0;
        var steps = new FakeSteps
        {
            Before = (call, _) => call == "create 2" && Interlocked.Increment(ref failures) <= 2
                ? throw new IOException("device busy") : Task.CompletedTask,
        };
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), steps);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Equal(3, steps.Count("create 2"));
        Assert.Equal(1, steps.CompletedCount("create 2"));
    }

    [Fact]
    public async Task A_failed_fetch_is_not_retried_by_the_workflow_ends_Failed_with_why_and_the_next_run_keeps_completed_steps()
    {
        var broken = true;
        var steps = new FakeSteps
        {
            Before = (call, _) => broken && call == "fetch golang/4.tar" ? throw new TimeoutException("read timed out") : Task.CompletedTask,
        };
        var options = WorkflowHarness.FastOptions with { MaxAttempts = 3, FetchParallelism = 1 };
        var e = await Assert.ThrowsAsync<FlyException>(() => h.RunAsync(WorkflowHarness.Image("golang"), steps, options));
        Assert.Equal(ErrorIds.InstallFailed, e.ErrorId);
        // the fetch retries each part itself (FetchOptions.PartAttempts): the step around it does not multiply that
        Assert.Equal(1, steps.Count("fetch golang/4.tar"));
        Assert.Equal(nameof(InstallState.Failed), h.Workflow("golang")!.State);
        var image = new ImageRepository(h.Store).Find(WorkflowHarness.Source, "golang")!;
        Assert.Equal(ImageState.Failed, image.State);
        Assert.Contains("Fetching", image.StateDetail, StringComparison.Ordinal);
        Assert.Contains("read timed out", image.StateDetail, StringComparison.Ordinal);

        // the failure cancelled the chains in progress: a half-made one is rolled back (Pending), a seal is left to resume
        var before = new LayerChainRepository(h.Store).OfImage(WorkflowHarness.Source, "golang");
        Assert.All(before, c => Assert.Contains(c.State, new[] { ChainState.Sealed, ChainState.Sealing, ChainState.Pending }));
        var kept = before.Where(c => c.State is ChainState.Sealed or ChainState.Sealing).Select(c => c.Depth).ToList();
        broken = false;
        var retry = new FakeSteps();
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), retry, options);
        Assert.Equal(InstallState.Ready, result.State);
        // layers 1-3 were fetched by the failed run: not fetched again
        Assert.DoesNotContain(retry.Calls, c => c is "fetch golang/1.tar" or "fetch golang/2.tar" or "fetch golang/3.tar");
        Assert.Equal(Enumerable.Range(1, 5).Except(kept), retry.Calls.Where(c => c.StartsWith("create ", StringComparison.Ordinal)).Select(c => int.Parse(c[7..])).Order());
        Assert.Equal(1, retry.Count("fetch golang/4.tar"));
        Assert.Contains(h.Journal("golang"), ev => ev.Trigger == nameof(InstallTrigger.Retry) && ev.From == nameof(InstallState.Failed));
    }

    [Fact]
    public async Task A_hostile_layer_rejects_the_image_keeps_lower_chains_and_is_not_retried_unless_forced()
    {
        var hostile = true;
        var steps = new FakeSteps
        {
            Before = (call, _) => hostile && call == "apply 4"
                ? throw new FlyException("LayerHostile", FlyErrorCategory.SecurityError, "entry '../../etc/passwd' escapes the root")
                : Task.CompletedTask,
        };
        var e = await Assert.ThrowsAsync<FlyException>(() => h.RunAsync(WorkflowHarness.Image("golang"), steps));
        Assert.Equal(ErrorIds.ImageRejected, e.ErrorId);
        Assert.Equal(1, steps.Count("apply 4")); // hostile input is never retried
        Assert.Equal(1, steps.Count("discard 4")); // the half-made device is deleted
        var image = new ImageRepository(h.Store).Find(WorkflowHarness.Source, "golang")!;
        Assert.Equal(ImageState.Rejected, image.State);
        Assert.Contains("escapes the root", image.StateDetail, StringComparison.Ordinal);
        var chains = new LayerChainRepository(h.Store).OfImage(WorkflowHarness.Source, "golang");
        Assert.Equal([ChainState.Sealed, ChainState.Sealed, ChainState.Sealed, ChainState.Pending], chains.Select(c => c.State));
        Assert.Null(chains[3].Device);

        // not retried without force: no step runs
        var again = new FakeSteps();
        var e2 = await Assert.ThrowsAsync<FlyException>(() => h.RunAsync(WorkflowHarness.Image("golang"), again));
        Assert.Equal(ErrorIds.ImageRejected, e2.ErrorId);
        Assert.Empty(again.Calls);

        // forced: runs again, everything re-verified
        hostile = false;
        var forced = new FakeSteps();
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), forced, WorkflowHarness.FastOptions with { Force = true });
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Equal(5, forced.Calls.Count(c => c.StartsWith("fetch ", StringComparison.Ordinal)));
        Assert.Equal(0, forced.Count("create 1")); // sealed chains are shared and kept
        Assert.Equal(1, forced.Count("create 4"));
        Assert.Contains(h.Journal("golang"), ev => ev.Trigger == nameof(InstallTrigger.ForceRetry) && ev.From == nameof(InstallState.Rejected));
    }

    [Fact]
    public async Task Cancellation_leaves_a_resumable_state_and_rolls_back_the_half_made_chain()
    {
        using var cancel = new CancellationTokenSource();
        var steps = new FakeSteps
        {
            Before = async (call, token) =>
            {
                if (call == "apply 2")
                {
                    await cancel.CancelAsync();
                    await Task.Delay(Timeout.Infinite, token);
                }
            },
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.RunAsync(WorkflowHarness.Image("golang"), steps, cancel: cancel.Token));
        var workflow = h.Workflow("golang")!;
        Assert.True(WorkflowKinds.IsIntermediate(workflow.Kind, workflow.State));
        Assert.NotNull(workflow.InterruptedAt);
        Assert.Equal(1, steps.Count("discard 2"));
        Assert.Null(new LeaseManager(h.Store).Owner(new LeaseKey(WorkflowKinds.InstallImage, workflow.Key)));

        var resumed = new FakeSteps();
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), resumed);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Equal(0, resumed.Count("create 1"));
        Assert.Equal(1, resumed.Count("create 2"));
        Assert.Contains(h.Journal("golang"), ev => ev.Trigger == nameof(InstallTrigger.Resume));
    }

    [Fact]
    public async Task A_transition_and_its_journal_row_commit_together_or_not_at_all()
    {
        var run = new WorkflowRepository(h.Store).BeginRun(WorkflowKinds.InstallImage, "k", "img", null);
        var machine = new PersistedWorkflow<InstallState, InstallTrigger>(h.Store, run, WorkflowMachines.ConfigureInstall);
        Assert.Throws<InvalidOperationException>(() => machine.Fire(InstallTrigger.Start, alsoWrite: (_, _) => throw new InvalidOperationException("disk full")));
        Assert.Equal(InstallState.Pending, machine.State);
        Assert.Empty(h.Journal("img"));

        machine.Fire(InstallTrigger.Start, "go");
        Assert.Equal(InstallState.Resolving, new PersistedWorkflow<InstallState, InstallTrigger>(h.Store, run, WorkflowMachines.ConfigureInstall).State);
        var entry = Assert.Single(h.Journal("img"));
        Assert.Equal(("Pending", "Resolving", "Start", "go", run.RunId), (entry.From, entry.To, entry.Trigger, entry.Detail, entry.RunId));

        // a transition not in the graph is refused and changes nothing
        Assert.Throws<InvalidOperationException>(() => machine.Fire(InstallTrigger.Unpacked));
        Assert.Single(h.Journal("img"));

        // a run that lost the workflow to a newer run cannot write over it
        new WorkflowRepository(h.Store).BeginRun(WorkflowKinds.InstallImage, "k", "img", null);
        var conflict = Assert.Throws<FlyException>(() => machine.Fire(InstallTrigger.Resolved));
        Assert.Equal(ErrorIds.WorkflowConflict, conflict.ErrorId);
    }

    public void Dispose() => h.Dispose();
}

public sealed class JournalTextTests
{
    [Fact]
    public void Hostile_text_is_stored_without_control_characters_and_capped()
    {
        Assert.Equal("entry '?[2J?]0;pwned?' bad?", WorkflowJournal.Clean("entry '\u001b[2J\u001b]0;pwned\u0007' bad\n"));
        Assert.Equal("ok 😀 ?", WorkflowJournal.Clean("ok 😀 \ud800"));
        var huge = WorkflowJournal.Clean(new string('x', 1_000_000))!;
        Assert.Equal(WorkflowJournal.MaxTextLength, huge.Length);
        Assert.EndsWith("…", huge, StringComparison.Ordinal);
        Assert.Null(WorkflowJournal.Clean(null));
    }

    [Fact]
    public async Task A_hostile_error_reaches_the_journal_and_the_image_cleaned()
    {
        using var h = new WorkflowHarness();
        var steps = new FakeSteps
        {
            Before = (call, _) => call == "apply 2" ? throw new FlyException("LayerHostile", FlyErrorCategory.InvalidData, "entry '\u001b[31mred' is bad") : Task.CompletedTask,
        };
        await Assert.ThrowsAsync<FlyException>(() => h.RunAsync(WorkflowHarness.Image("golang"), steps));
        var last = h.Journal("golang")[^1];
        Assert.Equal("Rejected", last.To);
        Assert.Matches(@"^(Fetching|Unpacking): entry '\?\[31mred' is bad$", last.Error);
        Assert.Equal(last.Error, new ImageRepository(h.Store).Find(WorkflowHarness.Source, "golang")!.StateDetail);
    }
}
