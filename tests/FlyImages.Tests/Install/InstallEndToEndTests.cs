using System.Formats.Tar;
using System.Text;
using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Images;
using FlyImages.Install;
using FlyImages.Lifecycle;
using FlyImages.Model;
using FlyImages.Processes;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.Tests.ThinPools;
using FlyImages.ThinPools;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Install;

/// <summary>The public bucket's layout plus an image with a hostile third layer, on one s3rver.</summary>
public sealed class InstallS3 : IAsyncLifetime, IDisposable
{
    public const string Evil = "evil";

    public S3rverFixture Server { get; } = new();

    /// <summary>Where the hostile layer tries to write (outside any destination).</summary>
    public string EscapeTarget { get; } = $"/tmp/flyimages-escape-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        await PublicBucketLayout.SeedAsync(Server, includeMany: false);
        // layers 1-2 are golang's (shared chains), layer 3 climbs out of the root
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{Evil}/1.tar", PublicBucketLayout.Layer("golang", 1));
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{Evil}/2.tar", PublicBucketLayout.Layer("golang", 2));
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{Evil}/3.tar", HostileLayer(EscapeTarget));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        Server.Dispose();
        File.Delete(EscapeTarget);
    }

    private static byte[] HostileLayer(string target)
    {
        using var memory = new MemoryStream();
        using (var writer = new TarWriter(memory, TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "../../../../../../.." + target) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("pwned")) });
        }

        return memory.ToArray();
    }
}

/// <summary>
/// Install-FlyImage's whole path, real parts only: s3rver (through a counting proxy), the content store,
/// the unpacker, a thin pool (block files on loop devices here; devicemapper in the VM), SQLite.
/// </summary>
public abstract class InstallEndToEndTests : IClassFixture<InstallS3>, IAsyncLifetime
{
    private readonly InstallS3 s3;
    private readonly InstallTestBed bed;

    protected InstallEndToEndTests(InstallS3 s3)
    {
        this.s3 = s3;
        bed = new InstallTestBed(s3.Server, "install", "inst");
    }

    protected abstract ThinPoolBackendChoice Backend { get; }

    protected abstract void RequireBackend();

    /// <summary>BlockFile pools on their own XFS filesystem (ThinPoolSpec.ReflinkFilesystem).</summary>
    protected virtual bool ReflinkFilesystem => false;

    private static InstallOptions Options { get; } = new() { DeviceSize = 256L << 20 };

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => bed.DisposeAsync().AsTask();

    [SkippableFact]
    public async Task Three_images_share_their_first_chains_and_each_blob_is_downloaded_once_then_a_rerun_does_nothing()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var images = await bed.ListAsync(source, "golang", "node", "python");
        var results = new List<InstallResult>();
        foreach (var image in images)
        {
            results.Add(await installer.InstallAsync(source, image, bed.Context));
        }

        Assert.All(results, r => Assert.Equal(InstallState.Ready, r.State));
        Assert.All(results, r => Assert.True(r.DidWork));
        var chains = new LayerChainRepository(bed.Store);
        var byImage = images.ToDictionary(i => i.Name, i => chains.OfImage(i.Source, i.Name));
        Assert.All(byImage.Values, c => Assert.Equal(5, c.Count));
        for (var depth = 0; depth < 3; depth++)
        {
            Assert.Single(byImage.Values.Select(c => c[depth].ChainId).Distinct());
            Assert.Single(byImage.Values.Select(c => c[depth].Device).Distinct());
        }

        Assert.Equal(3, byImage.Values.Select(c => c[4].ChainId).Distinct().Count());
        Assert.All(byImage.Values.SelectMany(c => c), c => Assert.Equal(ChainState.Sealed, c.State));
        // identical layers 1-3 were downloaded once, under one of the three keys
        for (var layer = 1; layer <= 3; layer++)
        {
            Assert.Single(bed.Proxy.Requests.Where(r => r.IsGet && r.Path.EndsWith($"/{layer}.tar", StringComparison.Ordinal)).Select(r => r.Path).Distinct());
        }

        Assert.All(images, i => Assert.Equal(ImageState.Ready, new ImageRepository(bed.Store).Find(i.Source, i.Name)!.State));

        // a rerun: no request at all, no device change
        var devicesBefore = DeviceSummary();
        bed.Proxy.Clear();
        foreach (var image in images)
        {
            var again = await installer.InstallAsync(source, image, bed.Context);
            Assert.False(again.DidWork);
            Assert.Equal(InstallState.Ready, again.State);
        }

        Assert.Empty(bed.Proxy.Requests);
        Assert.Equal(devicesBefore, DeviceSummary());
    }

    [SkippableFact]
    public async Task The_source_is_listed_once_per_pipeline_and_a_Ready_image_costs_one_listing_of_its_own_prefix()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        bed.Proxy.Clear();

        // Get-FlyImage | Install-FlyImage: one listing of the source, then 1 image and N images install without another
        var listed = await bed.ListAsync(source, "golang", "node", "python");
        Assert.Equal(["images/"], Listings());
        Assert.All(listed, i => Assert.NotNull(i.ListedAt));
        Assert.True((await installer.InstallAsync(source, listed[0], bed.Context)).DidWork);
        Assert.Equal(["images/"], Listings());

        // a listing older than InstallOptions.ListingReuse: each image's Resolving lists its own prefix, never the source
        bed.Proxy.Clear();
        foreach (var image in listed.Skip(1))
        {
            var stale = image with { ListedAt = DateTimeOffset.UtcNow - InstallOptions.Default.ListingReuse - TimeSpan.FromMinutes(1) };
            Assert.True((await installer.InstallAsync(source, stale, bed.Context)).DidWork);
        }

        Assert.Equal(["images/node/", "images/python/"], Listings());

        // Install-FlyImage golang on a Ready image: its own prefix (to notice a changed image), one store lookup, nothing else
        bed.Proxy.Clear();
        var golang = Assert.Single(await ImageCatalog.FindAsync(source, ["golang"], bed.Store, bed.Context));
        Assert.Equal(ImageState.Ready, golang.State);
        Assert.False((await installer.InstallAsync(source, golang, bed.Context)).DidWork);
        Assert.Equal(["images/golang/"], Listings());
        Assert.Single(bed.Proxy.Requests);
        Assert.Empty(await ImageCatalog.FindAsync(source, ["no-such-image"], bed.Store, bed.Context));
    }

    /// <summary>The prefixes of the listing requests the proxy saw (ListObjectsV2), in order.</summary>
    private List<string> Listings() => bed.Proxy.Requests.Where(r => r.IsGet && r.Target.Contains("list-type=2", StringComparison.Ordinal))
        .Select(r => Uri.UnescapeDataString(r.Target.Split('?')[1].Split('&').Select(p => p.Split('=', 2)).Where(p => p[0] == "prefix").Select(p => p.Length > 1 ? p[1] : "").FirstOrDefault() ?? ""))
        .ToList();

    [SkippableFact]
    public async Task A_snapshot_of_an_installed_image_shows_its_merged_files_and_is_removed_without_a_trace()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var golang = (await bed.ListAsync(source, "golang")).Single();
        await installer.InstallAsync(source, golang, bed.Context);
        var snapshots = new SnapshotWorkflow(bed.Store, new PoolSnapshotSteps(installer.Pool));

        var snapshot = await snapshots.EnsureActiveAsync(golang.Source, "golang", "web-1", bed.Context);
        Assert.Equal(SnapshotState.Active, snapshot.State);
        Assert.StartsWith("/dev/", snapshot.DevicePath, StringComparison.Ordinal);

        using (var mountPoint = new TempDirectory("flyimages-snapmnt"))
        {
            await ProcessRunner.RunCheckedAsync("mount", ["-o", "ro,noload", snapshot.DevicePath!, mountPoint.Path]);
            try
            {
                // layer 1 (base), layer 3 (shared) and layer 5 (golang's own) are all there
                Assert.Equal("shared layer 1\n", File.ReadAllText(Path.Combine(mountPoint.Path, "etc", "layer-1")));
                Assert.Equal("shared layer 3\n", File.ReadAllText(Path.Combine(mountPoint.Path, "etc", "layer-3")));
                Assert.Equal("golang layer 5\n", File.ReadAllText(Path.Combine(mountPoint.Path, "opt", "golang", "layer-5")));
            }
            finally
            {
                await ProcessRunner.RunCheckedAsync("umount", [mountPoint.Path]);
            }
        }

        // the same name on the same image is the same snapshot
        var same = await snapshots.EnsureActiveAsync(golang.Source, "golang", "web-1", bed.Context);
        Assert.Equal(snapshot.Id, same.Id);
        Assert.Equal(snapshot.Device, same.Device);

        Assert.True(await snapshots.RemoveAsync(golang.Source, "golang", "web-1", bed.Context));
        Assert.Equal(SnapshotState.Removed, snapshots.Find(golang.Source, "golang", "web-1")!.State);
        Assert.Null(installer.Pool.FindDevice(snapshot.Device!));
        Assert.False(await snapshots.RemoveAsync(golang.Source, "golang", "web-1", bed.Context));
    }

    [SkippableFact]
    public async Task A_layer_that_always_fails_is_requested_at_most_PartAttempts_times_not_once_more_per_step_retry()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var golang = Assert.Single(await bed.ListAsync(source, "golang"));
        bed.Proxy.Clear();
        bed.Proxy.Faults = r => r.IsGet && Uri.UnescapeDataString(r.Path).EndsWith("golang/4.tar", StringComparison.Ordinal) ? new Fault.Status(500) : null;
        await Assert.ThrowsAnyAsync<FlyException>(() => installer.InstallAsync(source, golang, bed.Context));
        Assert.Equal(Options.Fetch.PartAttempts, bed.Proxy.Gets("golang/4.tar").Count);
    }

    [SkippableFact]
    public async Task An_endpoint_that_ignores_Range_still_installs_and_says_so()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var golang = Assert.Single(await bed.ListAsync(source, "golang"));
        // the first GET of layer 4 ends after 100 bytes; the ranged GET for the rest is answered with the whole object
        var first = 1;
        bed.Proxy.Faults = r => r.IsGet && Uri.UnescapeDataString(r.Path).EndsWith("golang/4.tar", StringComparison.Ordinal)
            ? (Interlocked.Exchange(ref first, 0) == 1 ? new Fault.Truncate(100) : new Fault.IgnoreRange())
            : null;
        var result = await installer.InstallAsync(source, golang, bed.Context);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Contains(bed.Context.Verbose, v => v.Contains("golang/4.tar", StringComparison.Ordinal) && v.Contains("ignores Range", StringComparison.Ordinal));
        Assert.Equal(PublicBucketLayout.Layer("golang", 4), await File.ReadAllBytesAsync(new ContentStore(bed.Store).TryGetBlob(source.Spec.Uri, golang.Layers[3])!.Path));
    }

    [SkippableFact]
    public async Task A_snapshot_of_an_image_that_is_not_installed_is_refused()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        var snapshots = new SnapshotWorkflow(bed.Store, new PoolSnapshotSteps(installer.Pool));
        var e = await Assert.ThrowsAsync<FlyException>(() => snapshots.EnsureActiveAsync(PublicBucketLayout.SourceUri, "python", "py-1", bed.Context));
        Assert.Equal(ErrorIds.ImageNotReady, e.ErrorId);
        var bad = Assert.Throws<FlyException>(() => PoolSnapshotSteps.CheckName("../x"));
        Assert.Equal(ErrorIds.SnapshotNameInvalid, bad.ErrorId);
    }

    [SkippableFact]
    public async Task A_hostile_layer_in_the_middle_is_Rejected_nothing_is_Ready_and_the_lower_chains_stay_intact()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var evil = (await bed.ListAsync(source, InstallS3.Evil)).Single();
        var e = await Assert.ThrowsAsync<FlyException>(() => installer.InstallAsync(source, evil, bed.Context));
        Assert.Equal(ErrorIds.ImageRejected, e.ErrorId);
        Assert.False(File.Exists(s3.EscapeTarget));
        Assert.Equal(ImageState.Rejected, new ImageRepository(bed.Store).Find(evil.Source, evil.Name)!.State);
        Assert.Equal(nameof(InstallState.Rejected), new WorkflowRepository(bed.Store).Find(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(evil.Source, evil.Name))!.State);

        // the rejected chain left no device; the shared lower chains are sealed and golang reuses them
        var chains = new LayerChainRepository(bed.Store).List();
        Assert.All(chains.Where(c => c.State != ChainState.Sealed), c => Assert.Null(c.Device));
        var golang = (await bed.ListAsync(source, "golang")).Single();
        var ready = await installer.InstallAsync(source, golang, bed.Context);
        Assert.Equal(InstallState.Ready, ready.State);
        var evilChains = chains.Where(c => c.State == ChainState.Sealed).Select(c => c.ChainId).ToHashSet();
        Assert.True(ready.Chains.Take(2).All(c => evilChains.Contains(c.ChainId)));

        // Save-FlyImage brings its blobs in but does not overrule the install: Get and Install tell one truth, Rejected
        var saved = Assert.Single(await new ImageFetcher(new ContentStore(bed.Store)).FetchAsync(source, [evil], bed.Context));
        Assert.True(saved.Succeeded);
        Assert.Equal(ImageState.Rejected, saved.Image.State);
        Assert.Equal(ImageState.Rejected, new ImageRepository(bed.Store).Find(evil.Source, evil.Name)!.State);

        // Rejected is not retried without -Force
        var again = await Assert.ThrowsAsync<FlyException>(() => installer.InstallAsync(source, evil, bed.Context));
        Assert.Equal(ErrorIds.ImageRejected, again.ErrorId);
    }

    [SkippableFact]
    public async Task Four_concurrent_installs_of_one_image_fetch_and_unpack_once()
    {
        RequireBackend();
        await OpenInstallerAsync();
        using var source = bed.Source();
        var python = (await bed.ListAsync(source, "python")).Single();
        bed.Proxy.Clear();
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            var installer = await ImageInstaller.OpenAsync(bed.Store, Options, new RecordingContext(), bed.PoolName);
            return await installer.InstallAsync(source, python, new RecordingContext());
        }));
        Assert.All(results, r => Assert.Equal(InstallState.Ready, r.State));
        Assert.Single(results, r => r.DidWork);
        foreach (var layer in python.Layers)
        {
            Assert.True(bed.Proxy.Gets(layer.Key).Count <= 1, $"{layer.Key} was downloaded {bed.Proxy.Gets(layer.Key).Count} times");
        }

        Assert.Equal(5, new LayerChainRepository(bed.Store).OfImage(python.Source, python.Name).Select(c => c.Device).Distinct().Count());
    }

    [SkippableFact]
    public async Task Removing_the_pool_waits_for_its_snapshots_then_leaves_no_Ready_image_and_a_new_pool_reinstalls_without_downloading()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var images = await bed.ListAsync(source, "golang", "node");
        foreach (var image in images)
        {
            Assert.Equal(InstallState.Ready, (await installer.InstallAsync(source, image, bed.Context)).State);
        }

        var snapshots = new SnapshotWorkflow(bed.Store, new PoolSnapshotSteps(installer.Pool));
        await snapshots.EnsureActiveAsync(images[0].Source, "golang", "web-1", bed.Context);

        var plan = PoolRemoval.Plan(bed.Store, bed.PoolName);
        Assert.Equal(7, plan.Chains.Count); // 3 shared + 2 each
        Assert.Equal(["golang", "node"], plan.Images.Select(i => i.Name).Order());
        Assert.Single(plan.Snapshots);
        var refused = await Assert.ThrowsAsync<FlyException>(() => PoolRemoval.RemoveAsync(bed.Store, plan, bed.Context));
        Assert.Equal(ErrorIds.ThinPoolInUse, refused.ErrorId);
        Assert.Contains("'web-1' of 'golang'", refused.Message, StringComparison.Ordinal);
        Assert.NotEmpty(new ThinPoolRepository(bed.Store).ListDevices(bed.PoolName)); // nothing was removed

        await snapshots.RemoveAsync(images[0].Source, "golang", "web-1", bed.Context);
        await PoolRemoval.RemoveAsync(bed.Store, PoolRemoval.Plan(bed.Store, bed.PoolName), bed.Context);

        Assert.Empty(new ThinPoolCatalog(bed.Store).List());
        Assert.Empty(Leaks.MountsUnder(bed.Store.RootPath));
        Assert.Empty(Leaks.LoopDevicesUnder(bed.Store.RootPath));
        var workflows = new WorkflowRepository(bed.Store);
        foreach (var image in images)
        {
            Assert.Equal(nameof(InstallState.Pending), workflows.Find(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(image.Source, image.Name))!.State);
            Assert.Equal(ImageState.Fetched, new ImageRepository(bed.Store).Find(image.Source, image.Name)!.State);
        }

        Assert.All(new LayerChainRepository(bed.Store).List(), c => Assert.Equal((ChainState.Pending, (string?)null), (c.State, c.Device)));
        Assert.Contains(WorkflowEvents.Query(bed.Store), e => e.Image == "golang" && e.Kind == WorkflowKinds.InstallImage && e.Trigger == "PoolRemoved" && e.From == "Ready" && e.To == "Pending");
        Assert.Equal(7, WorkflowEvents.Query(bed.Store).Count(e => e.Kind == WorkflowKinds.MakeChain && e.Trigger == "PoolRemoved" && e.From == "Sealed" && e.To == "Pending"));

        // a new pool: the images install again, every chain is made again, no blob is downloaded again
        var gets = images.SelectMany(i => i.Layers).Sum(l => bed.Proxy.Gets(l.Key).Count);
        var again = await OpenInstallerAsync();
        foreach (var image in images)
        {
            var result = await again.InstallAsync(source, image, bed.Context);
            Assert.Equal((InstallState.Ready, true), (result.State, result.DidWork));
            Assert.All(result.Chains, c => Assert.Equal(ChainState.Sealed, c.State));
            Assert.All(result.Chains, c => Assert.NotNull(again.Pool.FindDevice(c.Device!)));
        }

        Assert.Equal(gets, images.SelectMany(i => i.Layers).Sum(l => bed.Proxy.Gets(l.Key).Count));
    }

    [SkippableFact]
    public async Task An_install_SIGKILLed_at_several_points_resumes_to_Ready_with_nothing_leaked()
    {
        RequireBackend();
        await OpenInstallerAsync();
        var killedMidway = 0;
        var killedMounted = 0;
        // each round is killed at another point: after the n-th progress update (resolving, fetching,
        // applying...) or right after the n-th mount of a layer device, so the mount outlives its process
        foreach (var (kind, killAfter) in new[] { ("MOUNTED", 1), ("PROGRESS", 1), ("PROGRESS", 3), ("MOUNTED", 3), ("PROGRESS", 6), ("PROGRESS", 9) })
        {
            using var child = Workflows.TestAgent.Start("real-install", "--store", bed.Store.RootPath, "--pool", bed.PoolName, "--source", PublicBucketLayout.SourceUri,
                "--endpoint", bed.Proxy.Endpoint, "--image", "node", "--device-size", (256L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture));
            var errors = child.StandardError.ReadToEndAsync();
            var seen = 0;
            string? line;
            while ((line = await child.StandardOutput.ReadLineAsync()) is not null)
            {
                if (line.StartsWith(kind + " ", StringComparison.Ordinal) && ++seen >= killAfter)
                {
                    child.Kill(entireProcessTree: false); // SIGKILL: no finally, no cleanup
                    killedMidway++;
                    killedMounted += kind == "MOUNTED" ? 1 : 0;
                    break;
                }
            }

            await child.WaitForExitAsync();
            _ = await errors;
        }

        Assert.True(killedMounted > 0, "no run was killed while it had a device mounted");
        Assert.True(killedMidway > 0, "no run was killed before it finished: the test proved nothing");
        var installer = await ImageInstaller.OpenAsync(bed.Store, Options, bed.Context, bed.PoolName);
        using var source = bed.Source();
        var node = (await bed.ListAsync(source, "node")).Single();
        var result = await installer.InstallAsync(source, node, bed.Context);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.All(new LayerChainRepository(bed.Store).OfImage(node.Source, node.Name), c => Assert.Equal(ChainState.Sealed, c.State));

        // nothing leaked: no mount of a chain device, no loop device on its files, no chain device left active
        // (a pool on its own filesystem keeps that mounted: it is the pool, not a leak)
        Assert.Empty(Leaks.MountsUnder(Path.Combine(bed.Store.RootPath, "mounts")));
        Assert.Empty(Leaks.LoopDevicesUnder(Path.Combine(bed.Store.RootPath, "pools", bed.PoolName, "devices")));

        Assert.All(new ThinPoolRepository(bed.Store).ListDevices(bed.PoolName), d => Assert.NotEqual(ThinDeviceState.Faulty, d.State));
        if (Backend == ThinPoolBackendChoice.DeviceMapper)
        {
            var live = await ProcessRunner.RunCheckedAsync("dmsetup", ["ls"]);
            Assert.DoesNotMatch($@"(?m)^flyimages-{bed.PoolName}-\d+\s", live.StandardOutput);
        }
    }

    private Task<ImageInstaller> OpenInstallerAsync()
        => bed.OpenInstallerAsync(new ThinPoolSpec { Backend = Backend, DataSize = 2L << 30, ReflinkFilesystem = ReflinkFilesystem }, Options);

    private string DeviceSummary() => string.Join("\n", new ThinPoolRepository(bed.Store).ListDevices(bed.PoolName).OrderBy(d => d.Name).Select(d => $"{d.Name} {d.DeviceId} {d.State} {d.UpdatedAt:O}"));
}

public sealed class BlockFileInstallTests(InstallS3 s3) : InstallEndToEndTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    protected override void RequireBackend() => Requirements.RequireLoopDevices();
}

public sealed class ReflinkFilesystemInstallTests(InstallS3 s3) : InstallEndToEndTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    protected override bool ReflinkFilesystem => true;

    protected override void RequireBackend()
    {
        Requirements.RequireLoopDevices();
        Requirements.RequireXfs();
    }
}

[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DeviceMapperInstallTests(InstallS3 s3) : InstallEndToEndTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.DeviceMapper;

    protected override void RequireBackend() => Requirements.RequireDeviceMapper();
}
