using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Health;
using FlyImages.Images;
using FlyImages.Install;
using FlyImages.Lifecycle;
using FlyImages.Model;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.Tests.Install;
using FlyImages.Tests.ThinPools;
using FlyImages.ThinPools;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Lifecycle;

/// <summary>
/// Remove-FlyImage's core, real parts only: s3rver, the content store, a thin pool (block files on loop devices
/// here; devicemapper in the VM), SQLite. golang, node and python share their first three layer chains.
/// </summary>
public abstract class ImageRemovalTests : IClassFixture<InstallS3>, IAsyncLifetime
{
    private readonly InstallS3 s3;
    private readonly TempDirectory dir = new("flyimages-remove");
    private readonly string poolName = "rm" + Guid.NewGuid().ToString("N")[..8];

    protected ImageRemovalTests(InstallS3 s3)
    {
        this.s3 = s3;
        Store = FlyStore.Open(dir.Path);
    }

    protected abstract ThinPoolBackendChoice Backend { get; }

    protected abstract void RequireBackend();

    /// <summary>Rounds of the two-process race (fewer under emulation in the VM).</summary>
    protected abstract int ProcessRounds { get; }

    private FlyStore Store { get; }

    private RecordingContext Context { get; } = new();

    private static InstallOptions Options { get; } = new() { DeviceSize = 256L << 20 };

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try
        {
            if (new ThinPoolRepository(Store).FindPool(poolName) is not null)
            {
                var pool = await new ThinPoolCatalog(Store).OpenAsync(poolName, new RecordingContext());
                var snapshots = new SnapshotWorkflow(Store, new PoolSnapshotSteps(pool));
                foreach (var s in snapshots.List().Where(s => s.State != SnapshotState.Removed))
                {
                    await snapshots.RemoveAsync(s.Source, s.Image, s.Name, new RecordingContext());
                }

                await new ThinPoolCatalog(Store).RemoveAsync(poolName, new RecordingContext());
            }
        }
        finally
        {
            dir.Dispose();
        }
    }

    [SkippableFact]
    public async Task Removing_an_image_deletes_only_the_chains_and_blobs_nothing_else_uses_and_journals_it()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, node) = await InstallAsync(installer, source);
        var chains = new LayerChainRepository(Store);
        var golangChains = chains.OfImage(golang.Source, golang.Name);
        var nodeChains = chains.OfImage(node.Source, node.Name);
        var golangBlobs = new ImageRepository(Store).Find(golang.Source, golang.Name)!.Layers.Select(l => l.Digest!).ToList();

        var removal = new ImageRemoval(Store);
        var plan = removal.Plan(golang.Source, golang.Name)!;
        Assert.Equal(golangChains.Skip(3).Select(c => c.ChainId), plan.Chains);
        Assert.Equal(3, plan.ChainsKept.Count);
        Assert.Equal(2, plan.Blobs.Count);

        var result = await removal.RemoveAsync(golang.Source, golang.Name, new ImageRemovalOptions(), Context);

        Assert.True(result.Complete, string.Join("; ", result.Left));
        Assert.Equal(golangChains.Skip(3).Select(c => c.ChainId).Order(), result.Chains.Order());
        Assert.Equal(golangChains.Take(3).Select(c => c.ChainId).Order(), result.ChainsKept.Order());
        Assert.Equal(golangBlobs.Skip(3).Order(), result.Blobs.Order());
        Assert.True(result.StoreBytes > 0);
        Assert.Null(new ImageRepository(Store).Find(golang.Source, golang.Name));
        foreach (var gone in golangChains.Skip(3))
        {
            var now = chains.Find(gone.ChainId)!;
            Assert.Equal(ChainState.Pending, now.State);
            Assert.Null(now.Device);
            Assert.Null(installer.Pool.FindDevice(gone.Device!));
        }

        // node is untouched: Ready, every chain Sealed with its device, every blob present
        Assert.Equal(ImageState.Ready, new ImageRepository(Store).Find(node.Source, node.Name)!.State);
        Assert.All(chains.OfImage(node.Source, node.Name), c =>
        {
            Assert.Equal(ChainState.Sealed, c.State);
            Assert.NotNull(installer.Pool.FindDevice(c.Device!));
        });
        Assert.All(golangBlobs.Take(3), d => Assert.True(File.Exists(ContentPaths.BlobPath(Store.RootPath, d))));
        Assert.All(golangBlobs.Skip(3), d => Assert.False(File.Exists(ContentPaths.BlobPath(Store.RootPath, d))));

        // journaled with its trigger and what it freed
        var events = WorkflowEvents.Query(Store, s => s == "golang");
        var remove = Assert.Single(events, e => e.Trigger == nameof(InstallTrigger.Remove));
        Assert.Contains("Remove-FlyImage", remove.Detail);
        Assert.Contains("2 layer chain(s) to delete", remove.Detail);
        Assert.Equal(2, events.Count(e => e.Trigger == nameof(ChainTrigger.Delete)));
        Assert.Equal(2, events.Count(e => e.Trigger == nameof(ChainTrigger.Deleted)));
        var lifecycle = Assert.Single(WorkflowEvents.Query(Store, kind: WorkflowKinds.Lifecycle));
        Assert.Equal(("golang", golang.Source, LifecycleTriggers.Remove, "Ready", "Removed"), (lifecycle.Image, lifecycle.Source, lifecycle.Trigger, lifecycle.From, lifecycle.To));
        Assert.Equal(remove.RunId, lifecycle.RunId); // one run: Get-FlyImageEvent -RunId shows the removal whole
        Assert.StartsWith($"freed {ByteSize.Format(result.PoolBytes + result.StoreBytes)}: 2 chain(s), 2 blob(s), pool {ByteSize.Format(result.PoolBytes)}, store {ByteSize.Format(result.StoreBytes)}",
            lifecycle.Detail, StringComparison.Ordinal);
        Assert.Contains("3 chain(s) kept in use", lifecycle.Detail, StringComparison.Ordinal);
        Assert.Null(lifecycle.Error);

        // the last user of the shared chains goes: everything goes
        var last = await removal.RemoveAsync(node.Source, node.Name, new ImageRemovalOptions(), Context);
        Assert.True(last.Complete);
        Assert.Equal(5, last.Chains.Length);
        Assert.Equal(5, last.Blobs.Length);
        Assert.Empty(installer.Pool.ListDevices());
        Assert.Empty(Directory.EnumerateFiles(ContentPaths.BlobDirectory(Store.RootPath)));

        // and installing again makes everything again
        var again = await installer.InstallAsync(source, golang, Context);
        Assert.Equal(InstallState.Ready, again.State);
        Assert.All(chains.OfImage(golang.Source, golang.Name), c => Assert.NotNull(installer.Pool.FindDevice(c.Device!)));
    }

    [SkippableFact]
    public async Task An_image_with_snapshots_is_refused_naming_them_unless_they_go_too()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, _) = await InstallAsync(installer, source);
        await new SnapshotWorkflow(Store, new PoolSnapshotSteps(installer.Pool)).EnsureActiveAsync(golang.Source, golang.Name, "web", Context);
        var removal = new ImageRemoval(Store);

        var refused = await Assert.ThrowsAsync<FlyException>(() => removal.RemoveAsync(golang.Source, golang.Name, new ImageRemovalOptions(), Context));
        Assert.Equal(ErrorIds.ImageHasSnapshots, refused.ErrorId);
        Assert.Contains("'web'", refused.Message);
        Assert.Equal(ImageState.Ready, new ImageRepository(Store).Find(golang.Source, golang.Name)!.State);

        // with the snapshot going too: removed, and the snapshot's chain is no longer in use
        var result = await removal.RemoveAsync(golang.Source, golang.Name, new ImageRemovalOptions { RemoveSnapshots = true, KeepBlobs = true }, Context);
        Assert.Equal(["web"], result.Snapshots);
        Assert.Equal(2, result.Chains.Length);
        Assert.Empty(result.Blobs);
        Assert.All(new ImageRepository(Store).Find(golang.Source, "node")!.Layers, l => Assert.True(File.Exists(ContentPaths.BlobPath(Store.RootPath, l.Digest!))));
        Assert.Equal(SnapshotState.Removed, new SnapshotWorkflow(Store, new PoolSnapshotSteps(installer.Pool)).Find(golang.Source, golang.Name, "web")!.State);
    }

    [SkippableFact]
    public async Task A_removal_that_stops_after_its_intent_is_finished_by_the_next_run_and_an_install_makes_its_chains_again()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, node) = await InstallAsync(installer, source);
        var golangChains = new LayerChainRepository(Store).OfImage(golang.Source, golang.Name);
        var removal = new ImageRemoval(Store);

        // stops right after the intent transaction, as a crash there would (no device or file deleted yet)
        var stop = new ImageRemovalOptions { OnStep = step => throw new IOException($"stopped after {step}") };
        await Assert.ThrowsAsync<IOException>(() => removal.RemoveAsync(golang.Source, golang.Name, stop, Context));
        Assert.Null(new ImageRepository(Store).Find(golang.Source, golang.Name));
        Assert.All(golangChains.Skip(3), c => Assert.Equal(ChainState.Deleting, new LayerChainRepository(Store).Find(c.ChainId)!.State));
        Assert.All(golangChains.Skip(3), c => Assert.NotNull(installer.Pool.FindDevice(c.Device!)));
        // nothing is Ready without its devices: node still is, golang is not recorded at all
        Assert.Equal(ImageState.Ready, new ImageRepository(Store).Find(node.Source, node.Name)!.State);

        // the next install of the same image finishes the deletion, then makes what it needs again
        var reopened = await ImageInstaller.OpenAsync(Store, Options, Context, poolName);
        var again = await reopened.InstallAsync(source, golang, Context);
        Assert.Equal(InstallState.Ready, again.State);
        Assert.All(new LayerChainRepository(Store).OfImage(golang.Source, golang.Name), c =>
        {
            Assert.Equal(ChainState.Sealed, c.State);
            Assert.NotNull(reopened.Pool.FindDevice(c.Device!));
        });
        var journal = WorkflowEvents.Query(Store, s => s == "golang");
        Assert.Equal(2, journal.Count(e => e.Trigger == nameof(ChainTrigger.Deleted)));
        // 3 shared chains, node's 2 and golang's 2 made again: nothing leaked
        Assert.Equal(7, reopened.Pool.ListDevices().Count(d => d.Name.StartsWith("chain:", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task Remove_and_install_of_the_same_image_at_once_always_end_consistent()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, node) = await InstallAsync(installer, source);
        var removal = new ImageRemoval(Store);
        for (var round = 0; round < 4; round++)
        {
            var install = Task.Run(() => installer.InstallAsync(source, golang, new RecordingContext()));
            var remove = Task.Run(async () =>
            {
                try
                {
                    return await removal.RemoveAsync(golang.Source, golang.Name, new ImageRemovalOptions { KeepBlobs = round % 2 == 0 }, new RecordingContext());
                }
                catch (FlyException e) when (e.ErrorId == ErrorIds.ImageNotFound)
                {
                    return null;
                }
            });
            await Task.WhenAll(install, remove);
            AssertConsistent(installer.Pool, golang);
            AssertConsistent(installer.Pool, node);
        }
    }

    [SkippableFact]
    public async Task Remove_and_install_of_the_same_image_in_two_processes_many_times_always_end_consistent()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, node) = await InstallAsync(installer, source);
        var outcomes = new List<string>();
        for (var round = 0; round < ProcessRounds; round++)
        {
            // even rounds start with golang installed (the install has nothing to do unless the removal goes first), odd ones
            // without it (the removal finds nothing, or finds the install under way and waits for its lease)
            var installed = new ImageRepository(Store).Find(golang.Source, golang.Name) is not null;
            if (round % 2 == 0 && !installed)
            {
                Assert.Equal(InstallState.Ready, (await installer.InstallAsync(source, golang, Context)).State);
            }
            else if (round % 2 == 1 && installed)
            {
                Assert.True((await new ImageRemoval(Store).RemoveAsync(golang.Source, golang.Name, new ImageRemovalOptions(), Context)).Complete);
            }

            var install = Workflows.TestAgent.RunAsync("real-install", "--store", Store.RootPath, "--pool", poolName, "--source", golang.Source,
                "--endpoint", s3.Server.Endpoint, "--image", golang.Name);
            var remove = Workflows.TestAgent.RunAsync("real-remove", "--store", Store.RootPath, "--source", golang.Source, "--image", golang.Name,
                "--keep-blobs", round % 4 < 2 ? "0" : "1");
            var (installExit, installOutput) = await install;
            var (removeExit, removeOutput) = await remove;

            Assert.True(installExit == 0, $"round {round}: the install exited {installExit}: {installOutput}");
            Assert.Contains("READY Ready", installOutput, StringComparison.Ordinal);
            Assert.True(removeExit is 0 or 4, $"round {round}: the removal exited {removeExit}: {removeOutput}");
            outcomes.Add($"{(removeExit == 0 ? "removed" : "not found")}, then {(new ImageRepository(Store).Find(golang.Source, golang.Name) is null ? "gone" : "Ready")}");

            // either Ready with its chains sealed and present, or not installed with no device of its own left; node untouched
            AssertConsistent(installer.Pool, golang);
            AssertConsistent(installer.Pool, node);
            await AssertHealthyAsync($"round {round} ({outcomes[^1]})");
        }

        // the store's own view agrees at the end: every image Ready is whole
        Assert.Equal(ImageState.Ready, new ImageRepository(Store).Find(node.Source, node.Name)!.State);
        Assert.Equal(ProcessRounds, outcomes.Count);
    }

    /// <summary>The store's health checks on chains, blobs, leases and leaks pass; no lease is held, no mount or loop device left.</summary>
    private async Task AssertHealthyAsync(string when)
    {
        var check = new StoreCheckContext(Store.RootPath, Store, new StoreCheckOptions(), Context);
        foreach (var healthCheck in new IStoreCheck[] { new ChainDevicesCheck(), new BlobsCheck(), new LeasesCheck(), new LeaksCheck() })
        {
            var outcome = await healthCheck.RunAsync(check);
            Assert.True(outcome.Status == StoreCheckStatus.Passed, $"{when}: {healthCheck.Name}: {outcome.Message}");
        }

        Assert.Empty(new LeaseManager(Store).Live());
        Assert.Empty(Leaks.MountsUnder(Path.Combine(Store.RootPath, "mounts")));
        Assert.Empty(Leaks.LoopDevicesUnder(Path.Combine(Store.RootPath, "pools", poolName, "devices")));
    }

    [SkippableFact]
    public async Task A_collection_above_high_removes_unused_images_least_recently_used_first_sparing_snapshots_and_shared_chains_and_reports_a_shortfall()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var listed = await ImageCatalog.ListAsync(source, Store, Context);
        foreach (var name in new[] { "node", "golang", "python" })
        {
            Assert.Equal(InstallState.Ready, (await installer.InstallAsync(source, listed.Single(i => i.Name == name), Context)).State);
        }

        // python is in use (a snapshot); node was used longest ago, then golang
        await new SnapshotWorkflow(Store, new PoolSnapshotSteps(installer.Pool)).EnsureActiveAsync(PublicBucketLayout.SourceUri, "python", "app", Context);
        Store.Write((c, t) => c.Exec(t, "UPDATE images SET last_used_at = CASE name WHEN 'node' THEN '2020-01-01T00:00:00.0000000Z' WHEN 'golang' THEN '2021-01-01T00:00:00.0000000Z' ELSE last_used_at END;"));
        var collector = new ImageCollector(Store);
        var used = (await collector.MeasureAsync(Context)).Single(f => f.Resource == $"pool '{poolName}' data");

        // below high: nothing goes
        var calm = await collector.CollectAsync(new CollectionPolicy { HighPercent = 100, LowPercent = 99.9, MinimumAge = TimeSpan.Zero }, Context);
        Assert.Empty(calm.Images);
        Assert.Null(calm.Shortfall);

        // -WhatIf: the order, nothing changes
        var policy = new CollectionPolicy { HighPercent = Math.Max(0.2, used.Percent - 0.1), LowPercent = 0.1, MinimumAge = TimeSpan.Zero };
        var whatIf = await collector.CollectAsync(policy, Context, whatIf: true);
        Assert.Equal(["node", "golang"], whatIf.Images);
        Assert.Equal(3, new ImageRepository(Store).List().Count);

        // above high and a low nothing can reach: node then golang go, python and the chains it shares stay, the shortfall is said
        var result = await collector.CollectAsync(policy, Context);
        Assert.Equal(["node", "golang"], result.Images);
        Assert.NotNull(result.Shortfall);
        Assert.Contains("above", result.Trigger, StringComparison.Ordinal);
        Assert.Equal(4, result.Chains); // node's and golang's own top two chains; chains 1-3 are python's too
        Assert.True(result.PoolBytes > 0, string.Join("; ", result.Before) + " / " + string.Join("; ", result.After));
        Assert.Equal("python", Assert.Single(new ImageRepository(Store).List()).Name);
        Assert.All(new LayerChainRepository(Store).OfImage(PublicBucketLayout.SourceUri, "python"), c =>
        {
            Assert.Equal(ChainState.Sealed, c.State);
            Assert.NotNull(installer.Pool.FindDevice(c.Device!));
        });
        var removes = WorkflowEvents.Query(Store).Where(e => e.Trigger == nameof(InstallTrigger.Remove)).ToList();
        Assert.Equal(["node", "golang"], removes.Select(e => e.Image));
        Assert.All(removes, e => Assert.Contains("Limit-FlyImageStore", e.Detail));

        // journaled as lifecycle entries: each removal with the high-use trigger and what it freed, then the collection's summary
        // (the calm collection is journaled too, freeing nothing)
        var all = WorkflowEvents.Query(Store, kind: WorkflowKinds.Lifecycle);
        Assert.Equal((LifecycleJournal.CollectionSubject, LifecycleTriggers.Collection, "Collected"), (all[0].Image, all[0].Trigger, all[0].To));
        Assert.StartsWith("freed 0 B: 0 image(s)", all[0].Detail, StringComparison.Ordinal);
        var lifecycle = all.Skip(1).ToList();
        Assert.Equal(["node", "golang", LifecycleJournal.CollectionSubject], lifecycle.Select(e => e.Image));
        Assert.All(lifecycle, e => Assert.Equal(LifecycleTriggers.HighUse, e.Trigger));
        Assert.All(lifecycle.Take(2), e =>
        {
            Assert.Equal("Removed", e.To);
            Assert.StartsWith("freed ", e.Detail, StringComparison.Ordinal);
            Assert.Contains("2 chain(s)", e.Detail, StringComparison.Ordinal);
            Assert.Contains("above", e.Detail, StringComparison.Ordinal);
        });
        var summary = lifecycle[^1];
        Assert.Equal("Shortfall", summary.To);
        Assert.Equal(result.Shortfall, summary.Error);
        Assert.Contains("2 image(s), 4 chain(s)", summary.Detail, StringComparison.Ordinal);
        Assert.NotEqual(lifecycle[0].RunId, summary.RunId); // each removal is its own run; the summary the collection's

        // a minimum age spares recently used images
        Assert.Empty(new ImageCollector(Store).Candidates(new CollectionPolicy { MinimumAge = TimeSpan.FromDays(1) }));
    }

    [SkippableFact]
    public async Task A_collection_reports_and_deletes_devices_no_record_explains_and_blobs_no_image_references()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, _) = await InstallAsync(installer, source);
        await new ImageRemoval(Store).RemoveAsync(golang.Source, golang.Name, new ImageRemovalOptions { KeepBlobs = true }, Context);
        await installer.Pool.CreateThinAsync("chain:sha256:" + new string('e', 64), 64L << 20, Context);

        var result = await new ImageCollector(Store).CollectAsync(new CollectionPolicy { HighPercent = 100, LowPercent = 99.9 }, Context);

        Assert.Empty(result.Images);
        Assert.Contains(result.Orphans, o => o.Contains("chain:sha256:eeee", StringComparison.Ordinal) && o.Contains("no record points to it", StringComparison.Ordinal));
        Assert.Equal(2, result.Orphans.Count(o => o.Contains("no image references it", StringComparison.Ordinal)));
        Assert.Null(installer.Pool.FindDevice("chain:sha256:" + new string('e', 64)));
        Assert.Contains(Context.Warnings, w => w.StartsWith("Collected an orphan: device", StringComparison.Ordinal));
        Assert.Equal(5, Directory.EnumerateFiles(ContentPaths.BlobDirectory(Store.RootPath)).Count());

        // each orphan is journaled (trigger orphan, what it freed), in the collection's run, before its summary
        var lifecycle = WorkflowEvents.Query(Store, kind: WorkflowKinds.Lifecycle);
        var orphans = lifecycle.Where(e => e.Image == LifecycleJournal.OrphansSubject).ToList();
        Assert.Equal(result.Orphans.Length, orphans.Count);
        Assert.All(orphans, e => Assert.Equal((LifecycleTriggers.Orphan, "Orphan", "Collected"), (e.Trigger, e.From, e.To)));
        Assert.Contains(orphans, e => e.Detail!.StartsWith("freed 0 B: device 'chain:sha256:eeee", StringComparison.Ordinal));
        Assert.Equal(2, orphans.Count(e => e.Detail!.Contains("no image references it", StringComparison.Ordinal) && !e.Detail.StartsWith("freed 0 B", StringComparison.Ordinal)));
        var summary = lifecycle[^1];
        Assert.Equal((LifecycleJournal.CollectionSubject, LifecycleTriggers.Collection, "Collected"), (summary.Image, summary.Trigger, summary.To));
        Assert.All(orphans, e => Assert.Equal(summary.RunId, e.RunId));
        Assert.Contains($"{result.Orphans.Length} orphan(s)", summary.Detail, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_collection_by_maximum_age_journals_each_removal_with_the_max_age_trigger()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, node) = await InstallAsync(installer, source);
        Store.Write((c, t) => c.Exec(t, "UPDATE images SET last_used_at = '2020-01-01T00:00:00.0000000Z' WHERE name = 'node';"));

        var result = await new ImageCollector(Store).CollectAsync(new CollectionPolicy { HighPercent = 100, LowPercent = 99.9, MinimumAge = TimeSpan.Zero, MaximumAge = TimeSpan.FromDays(1) }, Context);

        Assert.Equal(["node"], result.Images);
        var lifecycle = WorkflowEvents.Query(Store, kind: WorkflowKinds.Lifecycle);
        Assert.Equal([(node.Name, LifecycleTriggers.MaxAge), (LifecycleJournal.CollectionSubject, LifecycleTriggers.MaxAge)], lifecycle.Select(e => (e.Image, e.Trigger)));
        Assert.Contains("unused since 2020-01-01", lifecycle[0].Detail, StringComparison.Ordinal);
        Assert.Equal(ImageState.Ready, new ImageRepository(Store).Find(golang.Source, golang.Name)!.State);
    }

    [SkippableFact]
    public async Task A_removal_SIGKILLed_after_each_of_its_steps_is_finished_by_the_next_run_with_nothing_leaked()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = Source();
        var (golang, node) = await InstallAsync(installer, source);
        var killed = 0;
        // intent, then 2 blobs, then 2 chains: kill after each in turn
        foreach (var killAfter in new[] { 1, 2, 3, 4 })
        {
            using (var child = Workflows.TestAgent.Start("real-remove", "--store", Store.RootPath, "--source", golang.Source, "--image", golang.Name))
            {
                var errors = child.StandardError.ReadToEndAsync();
                var seen = 0;
                string? line;
                while ((line = await child.StandardOutput.ReadLineAsync()) is not null)
                {
                    if (line.StartsWith("STEP ", StringComparison.Ordinal) && ++seen >= killAfter)
                    {
                        child.Kill(entireProcessTree: false); // SIGKILL: no finally, no lease released
                        killed++;
                        break;
                    }
                }

                await child.WaitForExitAsync();
                _ = await errors;
            }

            // the next run: the image is gone, what it left is finished, nothing else was touched
            Assert.Null(new ImageRepository(Store).Find(golang.Source, golang.Name));
            var devices = new ChainDevices(Store, Context);
            await new ImageRemoval(Store).FinishLeftoversAsync(devices, Context);
            await new ImageCollector(Store).CollectAsync(new CollectionPolicy { HighPercent = 100, LowPercent = 99.9 }, Context);
            Assert.All(new LayerChainRepository(Store).List(), c => Assert.Contains(c.State, new[] { ChainState.Sealed, ChainState.Pending }));
            AssertConsistent(installer.Pool, node);
            AssertConsistent(installer.Pool, golang);
            Assert.Equal(5, installer.Pool.ListDevices().Count); // node's five chains, nothing more
            Assert.Equal(5, Directory.EnumerateFiles(ContentPaths.BlobDirectory(Store.RootPath)).Count());
            Assert.Empty(Leaks.MountsUnder(Path.Combine(Store.RootPath, "mounts")));
            Assert.Empty(Leaks.LoopDevicesUnder(Path.Combine(Store.RootPath, "pools", poolName, "devices")));

            // back for the next round
            Assert.Equal(InstallState.Ready, (await installer.InstallAsync(source, golang, Context)).State);
        }

        Assert.Equal(4, killed);
    }

    private void AssertConsistent(IThinPool pool, Image image)
    {
        var recorded = new ImageRepository(Store).Find(image.Source, image.Name);
        var workflow = new WorkflowRepository(Store).Find(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(image.Source, image.Name));
        var chains = new LayerChainRepository(Store);
        if (recorded?.State == ImageState.Ready)
        {
            Assert.Equal(nameof(InstallState.Ready), workflow!.State);
            Assert.All(chains.OfImage(image.Source, image.Name), c =>
            {
                Assert.Equal(ChainState.Sealed, c.State);
                Assert.NotNull(pool.FindDevice(c.Device!));
            });
            Assert.All(recorded.Layers, l => Assert.NotNull(l.Digest));
        }
        else
        {
            Assert.Null(recorded);
            Assert.Equal(nameof(InstallState.Pending), workflow!.State);
        }

        // no chain is left half-way, and every recorded chain device is in the pool
        Assert.All(chains.List(), c =>
        {
            Assert.Contains(c.State, new[] { ChainState.Sealed, ChainState.Pending });
            if (c.Device is not null)
            {
                Assert.NotNull(pool.FindDevice(c.Device));
            }
        });
        var explained = chains.List().Where(c => c.Device is not null).Select(c => c.Device!).ToHashSet(StringComparer.Ordinal);
        Assert.All(pool.ListDevices().Where(d => d.Name.StartsWith("chain:", StringComparison.Ordinal)), d => Assert.Contains(d.Name, explained));
    }

    private async Task<(Image Golang, Image Node)> InstallAsync(ImageInstaller installer, IImageSource source)
    {
        var listed = await ImageCatalog.ListAsync(source, Store, Context);
        var golang = listed.Single(i => i.Name == "golang");
        var node = listed.Single(i => i.Name == "node");
        Assert.Equal(InstallState.Ready, (await installer.InstallAsync(source, golang, Context)).State);
        Assert.Equal(InstallState.Ready, (await installer.InstallAsync(source, node, Context)).State);
        return (golang, node);
    }

    private async Task<ImageInstaller> OpenInstallerAsync()
    {
        await new ThinPoolCatalog(Store).InitializeAsync(new ThinPoolSpec { Name = poolName, Backend = Backend, DataSize = 2L << 30 }, Context);
        return await ImageInstaller.OpenAsync(Store, Options, Context, poolName);
    }

    private IImageSource Source() => ImageSourceFactory.Create(new SourceOptions { Source = PublicBucketLayout.SourceUri, Endpoint = s3.Server.Endpoint }, Context);
}

public sealed class BlockFileImageRemovalTests(InstallS3 s3) : ImageRemovalTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    protected override void RequireBackend() => Requirements.RequireLoopDevices();

    protected override int ProcessRounds => 20;
}

[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DeviceMapperImageRemovalTests(InstallS3 s3) : ImageRemovalTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.DeviceMapper;

    protected override void RequireBackend() => Requirements.RequireDeviceMapper();

    protected override int ProcessRounds => 6;
}
