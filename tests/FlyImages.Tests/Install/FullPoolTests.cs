using System.Formats.Tar;
using System.IO.Compression;
using FlyImages.Errors;
using FlyImages.Images;
using FlyImages.Install;
using FlyImages.Lifecycle;
using FlyImages.Model;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.Tests.ThinPools;
using FlyImages.Tests.Unpacking;
using FlyImages.ThinPools;
using FlyImages.Unpacking;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Install;

/// <summary>
/// Two images of incompressible layers (random bytes made here) on one s3rver: "fat" (plain tars: 4 MiB,
/// then 16 MiB) and "fatgz" (the same, its second layer gzip-compressed, so its size is only known as it is read).
/// </summary>
public sealed class FullPoolS3 : IAsyncLifetime, IDisposable
{
    public const string Fat = "fat";
    public const string FatGz = "fatgz";

    public S3rverFixture Server { get; } = new();

    /// <summary>The layers of "fat", in order (those of "fatgz" hold the same files).</summary>
    public byte[][] Layers { get; } = [MakeLayer(1, 4 << 20), MakeLayer(2, 16 << 20)];

    public async Task InitializeAsync()
    {
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{Fat}/1.tar", Layers[0]);
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{Fat}/2.tar", Layers[1]);
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{FatGz}/1.tar", Layers[0]);
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{FatGz}/2.tar.gz", Gzip(Layers[1]));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Server.Dispose();

    /// <summary>A folder, a small text file and one file of <paramref name="size"/> random bytes.</summary>
    private static byte[] MakeLayer(int index, int size)
    {
        var random = new Random(1000 + index);
        var bytes = new byte[size];
        random.NextBytes(bytes);
        using var memory = new MemoryStream();
        using (var writer = new TarWriter(memory, TarEntryFormat.Pax, leaveOpen: true))
        {
            var time = new DateTimeOffset(2024, 1, index, 0, 0, 0, TimeSpan.Zero);
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"data/layer{index}/") { Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, ModificationTime = time });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"data/layer{index}/note.txt") { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes($"layer {index}\n")), ModificationTime = time });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"data/layer{index}/random.bin") { DataStream = new MemoryStream(bytes), ModificationTime = time });
        }

        return memory.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return memory.ToArray();
    }
}

/// <summary>
/// A full pool never yields a Ready image (issue 16), on real pools: refused early when the layer is
/// larger than the pool's room, caught by the flush and filesystem checks when the pool fills while a
/// layer is written (the early check turned off, as for a layer whose size cannot be known), and in both
/// cases: a clear error, nothing Ready, no leaked mount or loop device, blobs kept, and after the pool is
/// replaced by a bigger one the install completes without downloading again. Every Ready image's device
/// is mounted read-only and compared with the layers.
/// </summary>
public abstract class FullPoolTests : IClassFixture<FullPoolS3>, IAsyncLifetime
{
    protected static readonly InstallOptions Options = new() { DeviceSize = 128L << 20 };
    private readonly FullPoolS3 s3;
    private readonly TempDirectory dir = new("flyimages-fullpool");
    private readonly FaultProxy proxy;

    protected FullPoolTests(FullPoolS3 s3)
    {
        this.s3 = s3;
        proxy = new FaultProxy(s3.Server.Endpoint);
        Store = FlyStore.Open(dir.Path);
    }

    protected string PoolName { get; } = "full" + Guid.NewGuid().ToString("N")[..8];

    protected FlyStore Store { get; }

    private protected RecordingContext Context { get; } = new();

    protected abstract ThinPoolBackendChoice Backend { get; }

    protected virtual bool ReflinkFilesystem => false;

    /// <summary>A pool too small for the image: its first layer fits, its second does not.</summary>
    protected virtual long SmallPool => 40L << 20;

    protected abstract void RequireBackend();

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        try
        {
            if (new ThinPoolRepository(Store).FindPool(PoolName) is not null)
            {
                await PoolRemoval.RemoveAsync(Store, PoolRemoval.Plan(Store, PoolName), new RecordingContext());
            }
        }
        finally
        {
            proxy.Dispose();
            dir.Dispose();
        }
    }

    [SkippableFact]
    public async Task A_layer_larger_than_the_pools_room_is_refused_before_writing_and_a_bigger_pool_installs_it_without_downloading_again()
    {
        RequireBackend();
        await InitializePoolAsync(SmallPool);
        var status = await new ThinPoolCatalog(Store).GetStatusAsync(PoolName, Context);
        Assert.InRange(status.DataTotalBytes, SmallPool * 95 / 100, SmallPool); // the size asked for, never more

        var e = await Assert.ThrowsAsync<FlyException>(() => InstallAsync(FullPoolS3.Fat, Options));
        Assert.True(e.ErrorId == ErrorIds.PoolFull, e.ToString());
        var cause = Inner(e, ErrorIds.PoolFull);
        Assert.Contains($"Pool '{PoolName}' has", cause.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was written", cause.Message, StringComparison.Ordinal);
        Assert.Contains("needs 16", cause.Message, StringComparison.Ordinal); // what is needed, in MiB

        await AssertFailedCleanlyAsync(FullPoolS3.Fat);
        await ReplacePoolAndInstallAsync(FullPoolS3.Fat);
    }

    [SkippableFact]
    public async Task A_pool_that_fills_while_the_second_layer_is_written_fails_the_install_and_a_bigger_pool_installs_it_without_downloading_again()
    {
        RequireBackend();
        await InitializePoolAsync(SmallPool);

        // the size is not measured ahead (as for a layer whose size cannot be known): the writes run the pool out
        var e = await Assert.ThrowsAsync<FlyException>(() => InstallAsync(FullPoolS3.Fat, Options with { RefuseEarly = false }));
        Assert.True(e.ErrorId == ErrorIds.PoolFull, e.ToString());
        Assert.Contains("does not fit", Inner(e, ErrorIds.PoolFull).Message, StringComparison.Ordinal);
        AssertCaughtWhileWriting(e);
        var status = await new ThinPoolCatalog(Store).GetStatusAsync(PoolName, Context);
        Assert.InRange(status.DataUsedPercent, 0, 100);

        await AssertFailedCleanlyAsync(FullPoolS3.Fat);
        await ReplacePoolAndInstallAsync(FullPoolS3.Fat);
    }

    /// <summary>A compressed layer's size shows only as it is read: it is stopped once its files pass the pool's room.</summary>
    protected async Task CompressedLayerIsStoppedAsync()
    {
        RequireBackend();
        await InitializePoolAsync(SmallPool);
        var e = await Assert.ThrowsAsync<FlyException>(() => InstallAsync(FullPoolS3.FatGz, Options));
        Assert.True(e.ErrorId == ErrorIds.PoolFull, e.ToString());
        var cause = Inner(e, ErrorIds.PoolFull);
        Assert.Contains("needs at least", cause.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorIds.DestinationFull, Assert.IsType<FlyException>(cause.InnerException).ErrorId);
        await AssertFailedCleanlyAsync(FullPoolS3.FatGz);
    }

    protected Task InitializePoolAsync(long dataSize)
        => new ThinPoolCatalog(Store).InitializeAsync(new ThinPoolSpec
        {
            Name = PoolName, Backend = Backend, DataSize = dataSize, ReflinkFilesystem = Backend == ThinPoolBackendChoice.BlockFile ? ReflinkFilesystem : null, FreeSpaceFloorPercent = 5,
        }, Context);

    protected async Task<InstallResult> InstallAsync(string name, InstallOptions options)
    {
        var installer = await ImageInstaller.OpenAsync(Store, options, Context, PoolName);
        using var source = Source();
        var image = (await ImageCatalog.ListAsync(source, Store, Context)).Single(i => i.Name == name);
        return await installer.InstallAsync(source, image, Context);
    }

    /// <summary>Nothing Ready, the failed chain's device gone, no mount or loop device left, the blobs kept.</summary>
    protected async Task AssertFailedCleanlyAsync(string name)
    {
        var image = new ImageRepository(Store).Find(PublicBucketLayout.SourceUri, name)!;
        Assert.NotEqual(ImageState.Ready, image.State);
        var chains = new LayerChainRepository(Store).OfImage(PublicBucketLayout.SourceUri, name);
        Assert.All(chains.Where(c => c.State != ChainState.Sealed), c => Assert.Null(c.Device));
        Assert.Contains(chains, c => c.State != ChainState.Sealed);
        var devices = new ThinPoolRepository(Store).ListDevices(PoolName);
        Assert.All(devices, d => Assert.Contains(chains, c => c.State == ChainState.Sealed && c.Device == d.Name));
        Assert.All(devices, d => Assert.NotEqual(ThinDeviceState.Faulty, d.State));
        Assert.Empty(Leaks.MountsUnder(Path.Combine(Store.RootPath, "mounts")));
        Assert.Empty(Leaks.LoopDevicesUnder(Path.Combine(Store.RootPath, "pools", PoolName, "devices")));
        await AssertNoLeakedDmDevicesAsync(devices.Select(d => d.DeviceId).ToHashSet());
        var content = new FlyImages.Content.ContentStore(Store);
        Assert.Equal(2, chains.Count);
        Assert.All(chains, c => Assert.True(content.TryGetBlob(c.LayerDigest) is { } blob && File.Exists(blob.Path), $"the blob of {c.ChainId} is gone"));
    }

    /// <summary>
    /// How the backend notices the pool ran out while a layer was written: by default the write did not reach
    /// the device (a flush error or filesystem errors: ChainWriteFailed inside the PoolFull).
    /// </summary>
    protected virtual void AssertCaughtWhileWriting(FlyException e)
        => Assert.True(Ids(e).Contains(ErrorIds.ChainWriteFailed) || Ids(e).Contains(ErrorIds.LayerApplyFailed), e.ToString());

    protected static List<string> Ids(Exception e)
    {
        var ids = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is FlyException f)
            {
                ids.Add(f.ErrorId);
            }
        }

        return ids;
    }

    protected virtual Task AssertNoLeakedDmDevicesAsync(IReadOnlySet<int> sealedIds) => Task.CompletedTask;

    /// <summary>Remove-FlyThinPool, Initialize-FlyThinPool with room, install again: Ready, nothing downloaded, the device's tree equals the layers'.</summary>
    protected async Task ReplacePoolAndInstallAsync(string name)
    {
        await PoolRemoval.RemoveAsync(Store, PoolRemoval.Plan(Store, PoolName), Context);
        Assert.Empty(Leaks.LoopDevicesUnder(Store.RootPath));
        Assert.Empty(Leaks.MountsUnder(Store.RootPath));
        await InitializePoolAsync(160L << 20);
        proxy.Clear();
        var result = await InstallAsync(name, Options);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.DoesNotContain(proxy.Requests, r => r.IsGet && r.Path.Contains(".tar", StringComparison.Ordinal));
        await AssertDeviceHoldsTheLayersAsync(result.Chains[^1].Device!);
        var status = await new ThinPoolCatalog(Store).GetStatusAsync(PoolName, Context);
        Assert.InRange(status.DataUsedPercent, 0, 100);
    }

    /// <summary>Mounts the device read-only and compares its tree with the layers applied to a plain folder.</summary>
    protected async Task AssertDeviceHoldsTheLayersAsync(string device)
    {
        using var expected = new TempDirectory("flyimages-fullpool-expected");
        foreach (var layer in s3.Layers)
        {
            using var stream = new MemoryStream(layer);
            LayerUnpacker.Apply(stream, expected.Path);
        }

        var pool = await new ThinPoolCatalog(Store).OpenAsync(PoolName, Context);
        await pool.ActivateAsync(device, Context);
        try
        {
            await using var mount = await pool.MountAsync(device, readOnly: true, Context);
            // (the folder "data" itself has no entry in the layers: its time is when it was made)
            Assert.Equal(["layer1", "layer2"], Directory.GetDirectories(Path.Combine(mount.Path, "data")).Select(Path.GetFileName).Order());
            foreach (var layer in new[] { "layer1", "layer2" })
            {
                Assert.Equal(TreeSnapshot.Take(Path.Combine(expected.Path, "data", layer)), TreeSnapshot.Take(Path.Combine(mount.Path, "data", layer)));
            }
        }
        finally
        {
            await pool.DeactivateAsync(device, Context);
        }
    }

    /// <summary>The innermost <see cref="FlyException"/> with <paramref name="id"/> (the install's own error wraps the pool's).</summary>
    private static FlyException Inner(Exception e, string id)
    {
        FlyException? found = null;
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is FlyException f && f.ErrorId == id)
            {
                found = f;
            }
        }

        return found ?? throw new Xunit.Sdk.XunitException($"no {id} inside: {e}");
    }

    private IImageSource Source() => ImageSourceFactory.Create(new SourceOptions { Source = PublicBucketLayout.SourceUri, Endpoint = proxy.Endpoint }, Context);
}

/// <summary>Block files in a plain folder: -DataSize bounds the blocks the device images have allocated.</summary>
public sealed class FolderFullPoolTests(FullPoolS3 s3) : FullPoolTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    protected override void RequireBackend() => Requirements.RequireLoopDevices();

    // snapshots are copies here: the second chain starts as a copy of the first
    protected override long SmallPool => 40L << 20;

    // the host's filesystem has room: the images' allocated blocks pass -DataSize, which the check after the layer catches
    protected override void AssertCaughtWhileWriting(FlyException e)
        => Assert.Contains("after chain 2", e.Message, StringComparison.Ordinal);
}

/// <summary>Block files on the pool's own XFS: the filesystem holds no more than -DataSize for devices.</summary>
public sealed class OwnXfsFullPoolTests(FullPoolS3 s3) : FullPoolTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    protected override bool ReflinkFilesystem => true;

    protected override long SmallPool => 24L << 20;

    protected override void RequireBackend()
    {
        Requirements.RequireLoopDevices();
        Requirements.RequireXfs();
    }

    [SkippableFact]
    public Task A_compressed_layer_is_stopped_once_its_files_pass_the_pools_room() => CompressedLayerIsStoppedAsync();
}

/// <summary>A devicemapper thin-pool (made with error_if_no_space: writes to the full pool fail, never queue).</summary>
[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DeviceMapperFullPoolTests(FullPoolS3 s3, Xunit.Abstractions.ITestOutputHelper output) : FullPoolTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.DeviceMapper;

    protected override long SmallPool => 24L << 20;

    protected override void RequireBackend() => Requirements.RequireDeviceMapper();

    [SkippableFact]
    public async Task The_pool_table_fails_writes_when_full()
    {
        RequireBackend();
        await InitializePoolAsync(SmallPool);
        var table = await FlyImages.Processes.ProcessRunner.RunCheckedAsync("dmsetup", ["table", PoolName]);
        Assert.Contains(" 1 error_if_no_space", table.StandardOutput, StringComparison.Ordinal);
        var status = await FlyImages.Processes.ProcessRunner.RunCheckedAsync("dmsetup", ["status", PoolName]);
        Assert.Contains("error_if_no_space", status.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 13: a deleted device's blocks go back to the loop-backed pool's data file (each device is discarded
    /// before it is deleted): the file's allocated bytes fall by most of the image's 20 MiB of random data.
    /// </summary>
    [SkippableFact]
    public async Task Removing_an_image_discards_its_devices_so_the_pools_data_file_gives_their_blocks_back()
    {
        RequireBackend();
        await InitializePoolAsync(160L << 20);
        Assert.Equal(InstallState.Ready, (await InstallAsync(FullPoolS3.Fat, Options)).State);
        var dataFile = ThinPoolLayout.DataFile(Store.RootPath, PoolName);
        var before = AllocatedBytes(dataFile);
        Assert.True(before >= 20L << 20, $"the data file holds only {before} bytes after the install");

        var removed = await new FlyImages.Lifecycle.ImageRemoval(Store).RemoveAsync(PublicBucketLayout.SourceUri, FullPoolS3.Fat, new FlyImages.Lifecycle.ImageRemovalOptions(), Context);

        Assert.True(removed.Complete, string.Join("; ", removed.Left));
        Assert.Equal(2, removed.Chains.Length);
        Assert.Empty(new ThinPoolRepository(Store).ListDevices(PoolName));
        Assert.DoesNotContain(Context.Warnings, w => w.Contains("could not be discarded", StringComparison.Ordinal));
        Assert.Equal(2, Context.Verbose.Count(v => v.Contains("before deleting it", StringComparison.Ordinal)));
        var after = AllocatedBytes(dataFile);
        output.WriteLine($"data file allocated: {before} bytes after the install, {after} after the removal");
        Assert.True(before - after >= 16L << 20, $"the data file went from {before} to {after} allocated bytes; the image's chains held 20 MiB");
    }

    /// <summary>
    /// Issue 16 on devicemapper: a pool whose metadata runs out. The smallest metadata device (2 MiB, 512 blocks of
    /// 4 KiB) is filled without writing data (filling it with mappings took 8.5 minutes in the VM): the pool gets a
    /// huge sparse data device, whose space map takes one metadata bitmap block per 16320 data blocks (about 408 of
    /// the 512), and a few empty thin devices made here (one metadata block each: an empty mapping tree) top it up
    /// until 3 blocks are left (dm-thin's status counts the tenth it keeps back as used; the pool turns read-only at
    /// total). The install's own devices and writes then run it out: PoolFull naming the metadata and -MetadataSize,
    /// nothing Ready, nothing left active or mounted; the read-only pool refuses the next install before fetching,
    /// can be removed, and a new pool installs the image without downloading it again.
    /// </summary>
    [SkippableFact]
    public async Task A_pool_whose_metadata_fills_fails_the_install_naming_the_metadata_and_a_replaced_pool_installs_without_downloading_again()
    {
        RequireBackend();
        const long bitmapEntries = (4096 - 16) * 4; // 2 bits a data block, after a 16-byte header
        await new ThinPoolCatalog(Store).InitializeAsync(new ThinPoolSpec
        {
            Name = PoolName, Backend = ThinPoolBackendChoice.DeviceMapper, DataSize = 408 * bitmapEntries * (64L << 10), BlockSize = 64L << 10,
            MetadataSize = ThinPoolSizing.MinMetadataSize, FreeSpaceFloorPercent = 0,
        }, Context);
        const int spare = 3;
        var made = 0;
        var (usedAtStart, _) = await MetadataBlocksAsync();
        for (var pass = 0; pass < 3; pass++)
        {
            var (used, total) = await MetadataBlocksAsync();
            var toMake = total - used - spare;
            if (toMake <= 0)
            {
                break;
            }

            for (var i = 0; i < toMake; i++, made++)
            {
                await FlyImages.Processes.ProcessRunner.RunCheckedAsync("dmsetup", ["message", PoolName, "0", $"create_thin {1_000_000 + made}"]);
            }
        }

        var (usedBefore, totalBlocks) = await MetadataBlocksAsync();
        output.WriteLine($"metadata blocks used: {usedAtStart} of {totalBlocks} after the pool was made, {usedBefore} after {made} filler devices");
        Assert.True(totalBlocks - usedBefore <= spare, $"{made} filler devices made; {usedAtStart} then {usedBefore} of {totalBlocks} metadata blocks used");
        Assert.Equal(ThinPoolMode.ReadWrite, (await new ThinPoolCatalog(Store).GetStatusAsync(PoolName, Context)).Mode);

        var e = await Assert.ThrowsAsync<FlyException>(() => InstallAsync(FullPoolS3.Fat, Options));

        Assert.True(e.ErrorId == ErrorIds.PoolFull, e.ToString());
        Assert.Contains("metadata", e.ToString(), StringComparison.Ordinal);
        Assert.Contains("used of 2.00 MiB", e.ToString(), StringComparison.Ordinal);
        Assert.Contains("-MetadataSize", e.RecommendedAction, StringComparison.Ordinal);
        output.WriteLine($"the install failed: {e.Message} | {e.RecommendedAction}");
        var status = await new ThinPoolCatalog(Store).GetStatusAsync(PoolName, Context);
        Assert.True(status.Mode is ThinPoolMode.ReadOnly or ThinPoolMode.NeedsCheck, $"the pool is {status.Mode}: {status.ModeDetail}");

        // nothing Ready, nothing active but sealed chains' devices, nothing mounted or attached
        var image = new ImageRepository(Store).Find(PublicBucketLayout.SourceUri, FullPoolS3.Fat)!;
        Assert.NotEqual(ImageState.Ready, image.State);
        var chains = new LayerChainRepository(Store).OfImage(PublicBucketLayout.SourceUri, FullPoolS3.Fat);
        Assert.Contains(chains, c => c.State != ChainState.Sealed);
        var sealedIds = new ThinPoolRepository(Store).ListDevices(PoolName)
            .Where(d => chains.Any(c => c.State == ChainState.Sealed && c.Device == d.Name)).Select(d => d.DeviceId).ToHashSet();
        await AssertNoLeakedDmDevicesAsync(sealedIds);
        Assert.Empty(Leaks.MountsUnder(Path.Combine(Store.RootPath, "mounts")));

        // a read-only pool refuses the next install before anything is fetched
        var again = await Assert.ThrowsAsync<FlyException>(() => InstallAsync(FullPoolS3.Fat, Options));
        Assert.True(again.ErrorId == ErrorIds.PoolFull, again.ToString());
        Assert.Contains("Nothing was fetched", again.Message, StringComparison.Ordinal);

        await ReplacePoolAndInstallAsync(FullPoolS3.Fat);
    }

    /// <summary>The pool's metadata blocks (used, total) from dmsetup status.</summary>
    private async Task<(long Used, long Total)> MetadataBlocksAsync()
    {
        var status = DmThinPoolStatusOf((await FlyImages.Processes.ProcessRunner.RunCheckedAsync("dmsetup", ["status", PoolName])).StandardOutput);
        return (status.MetadataUsedBlocks, status.MetadataTotalBlocks);
    }

    private static FlyImages.ThinPools.DeviceMapper.DmThinPoolStatus DmThinPoolStatusOf(string output) => FlyImages.ThinPools.DeviceMapper.DmThinPoolStatus.Parse(output);

    /// <summary>The bytes a file has allocated (statx blocks, 512 bytes each).</summary>
    private static long AllocatedBytes(string path)
    {
        Assert.Equal(0, FlyImages.Native.Libc.statx(FlyImages.Native.Libc.AT_FDCWD, path, 0, FlyImages.Native.Libc.STATX_BASIC_STATS, out var st));
        return (long)st.Blocks * 512;
    }

    protected override async Task AssertNoLeakedDmDevicesAsync(IReadOnlySet<int> sealedIds)
    {
        var live = await FlyImages.Processes.ProcessRunner.RunCheckedAsync("dmsetup", ["ls"]);
        var ours = System.Text.RegularExpressions.Regex.Matches(live.StandardOutput, $@"(?m)^flyimages-{PoolName}-(\d+)\s");
        Assert.All(ours, m => Assert.Contains(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), sealedIds));
    }
}
