using FlyImages.TestSupport;
using FlyImages.ThinPools;
using FlyImages.ThinPools.BlockFile;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>The contract on block files and real loop devices (root and /dev/loop-control).</summary>
[Trait(Requirements.Category, Requirements.RootOnly)]
public sealed class BlockFileThinPoolTests : ThinPoolContractTests
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    protected override void RequireBackend() => Requirements.RequireLoopDevices();

    private protected override async Task SimulateRebootAsync(ThinPool pool)
    {
        var devices = pool.Record.DataPath!;
        foreach (var loop in LoopDevices.List().Where(l => l.BackingFile.StartsWith(devices + "/", StringComparison.Ordinal)))
        {
            await LoopDevices.DetachAsync(loop, CancellationToken.None);
        }
    }

    protected override Task<IReadOnlyList<string>> LeftoversAsync() => Task.FromResult<IReadOnlyList<string>>([]);

    protected override Task CleanUpLeftoversAsync() => Task.CompletedTask;

    [SkippableFact]
    public async Task AutoFallsBackToBlockFilesWhenTheKernelHasNoDeviceMapperAndSaysSo()
    {
        Skip.If(Requirements.HasDeviceMapper, "this kernel has device-mapper: Auto does not fall back");
        Requirements.RequireLoopDevices();
        var context = new RecordingContext();
        var pool = await Catalog.OpenOrCreateDefaultAsync(context);
        try
        {
            Assert.Equal((ThinPoolBackend.BlockFile, ThinPoolSpec.DefaultName), (pool.Backend, pool.Name));
            Assert.Contains(context.Warnings, w => w.Contains("no device-mapper", StringComparison.Ordinal));
            Assert.True(pool.Record.IsDefault);
            Assert.Equal(ThinPoolSpec.DefaultDataSize, pool.Record.DataSize);
        }
        finally
        {
            await Catalog.RemoveAsync(pool.Name, context);
        }
    }

    [Fact]
    public async Task OpeningThePoolsOfAStoreWithoutOneMakesNone()
    {
        // only Initialize (InitializeAsync) and Install (OpenOrCreateDefaultAsync) make a pool
        var noDefault = await Assert.ThrowsAsync<Errors.FlyException>(() => Catalog.OpenDefaultAsync(Context));
        Assert.Equal(Errors.ErrorIds.ThinPoolNotFound, noDefault.ErrorId);
        Assert.Contains("Install-FlyImage", noDefault.RecommendedAction, StringComparison.Ordinal);
        var noNamed = await Assert.ThrowsAsync<Errors.FlyException>(() => Catalog.OpenAsync(PoolName, Context));
        Assert.Equal(Errors.ErrorIds.ThinPoolNotFound, noNamed.ErrorId);
        var noStatus = await Assert.ThrowsAsync<Errors.FlyException>(() => Catalog.GetStatusAsync(PoolName, Context));
        Assert.Equal(Errors.ErrorIds.ThinPoolNotFound, noStatus.ErrorId);
        Assert.Empty(Catalog.List());
        Assert.False(Directory.Exists(Path.Combine(StorePath, "pools")), "a pools folder was made");
        Assert.Empty(Context.Questions);
    }

    [SkippableFact]
    public async Task ADeviceMapperPoolIsRefusedWhenTheKernelHasNone()
    {
        Skip.If(Requirements.HasDeviceMapper, "this kernel has device-mapper");
        var e = await Assert.ThrowsAsync<Errors.FlyException>(() => Catalog.InitializeAsync(new ThinPoolSpec { Name = PoolName, Backend = ThinPoolBackendChoice.DeviceMapper }, new RecordingContext()));
        Assert.Equal(Errors.ErrorIds.ThinPoolBackendUnavailable, e.ErrorId);
        Assert.Empty(Catalog.List());
    }
}

/// <summary>
/// The contract on block files kept on the pool's own XFS filesystem (reflink) in a sparse file:
/// snapshots are reflinks, and a reboot takes the filesystem down too.
/// </summary>
[Trait(Requirements.Category, Requirements.RootOnly)]
public sealed class ReflinkFilesystemThinPoolTests : ThinPoolContractTests
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    private protected override bool ReflinkFilesystem => true;

    protected override void RequireBackend()
    {
        Requirements.RequireLoopDevices();
        Requirements.RequireXfs();
    }

    private protected override async Task SimulateRebootAsync(ThinPool pool)
    {
        var devices = pool.Record.DataPath!;
        foreach (var loop in LoopDevices.List().Where(l => l.BackingFile.StartsWith(devices + "/", StringComparison.Ordinal)))
        {
            await LoopDevices.DetachAsync(loop, CancellationToken.None);
        }

        await PoolFilesystem.UnmountAsync(pool.Record.FilesystemImage!, devices, CancellationToken.None);
        Assert.False(PoolFilesystem.IsMounted(pool.Record.FilesystemImage!, devices));
    }

    protected override Task<IReadOnlyList<string>> LeftoversAsync() => Task.FromResult<IReadOnlyList<string>>([]);

    protected override Task CleanUpLeftoversAsync() => Task.CompletedTask;

    [SkippableFact]
    public async Task SnapshotsAreReflinksThatShareBlocksAndThePoolCountsSharedBlocksOnce()
    {
        var pool = await NewPoolAsync(dataSize: 1L << 30);
        Assert.NotNull(pool.Record.FilesystemImage);
        Assert.True(PoolFilesystem.SupportsReflink(pool.Record.DataPath!));
        Assert.Equal("own XFS", (await pool.GetStatusAsync(Context)).Storage);
        await MakeFormattedAsync(pool, "base", 256 * MiB);
        await using (var m = await pool.MountAsync("base", false, Context))
        {
            await File.WriteAllBytesAsync(Path.Combine(m.Path, "big"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 << 20));
        }

        await pool.DeactivateAsync("base", Context);
        var before = (await pool.GetStatusAsync(Context)).DataUsedBytes;
        for (var i = 0; i < 4; i++)
        {
            await pool.CreateSnapshotAsync($"s{i}", "base", Context);
        }

        var after = (await pool.GetStatusAsync(Context)).DataUsedBytes;
        Assert.True(after - before < 16 * MiB, $"four snapshots of a 64 MiB device took {(after - before) >> 20} MiB: not shared");
        Assert.Contains(Context.Verbose, v => v.Contains("copied by Reflink", StringComparison.Ordinal));

        await pool.ActivateAsync("s3", Context);
        await using (var m = await pool.MountAsync("s3", readOnly: true, Context))
        {
            Assert.Equal(64 << 20, new FileInfo(Path.Combine(m.Path, "big")).Length);
        }
    }

    [SkippableFact]
    public async Task ReflinkedDevicesAndThePoolsFilesystemDoDirectIoInTheExt4sBlocks()
    {
        // 1 GiB: mkfs.ext4 makes 4 KiB blocks (1 KiB under 512 MiB, see the test below)
        var pool = await NewPoolAsync(dataSize: 2L << 30);
        await MakeFormattedAsync(pool, "base", 1L << 30);
        await pool.DeactivateAsync("base", Context);
        await pool.CreateSnapshotAsync("snap", "base", Context);
        var snapshot = await pool.ActivateAsync("snap", Context);
        await using (var m = await pool.MountAsync("snap", readOnly: false, Context))
        {
            await File.WriteAllTextAsync(Path.Combine(m.Path, "written.txt"), "through direct I/O");
        }

        var loops = LoopDevices.List().Where(l => l.BackingFile == pool.Record.FilesystemImage || l.BackingFile.StartsWith(pool.Record.DataPath + "/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, loops.Count);
        Assert.All(loops, l => Assert.Equal("1", LoopDevicesTests.Sysfs(l.Name, "loop/dio")));
        var name = Path.GetFileName(Native.Libc.Pools.RealPath(snapshot) ?? snapshot);
        Assert.Equal("4096", LoopDevicesTests.Sysfs(name, "queue/logical_block_size"));
        await using (var m = await pool.MountAsync("snap", readOnly: true, Context))
        {
            Assert.Equal("through direct I/O", await File.ReadAllTextAsync(Path.Combine(m.Path, "written.txt")));
        }
    }

    [SkippableFact]
    public async Task ASnapshotOfAnExt4WithSmallBlocksIsMountedBufferedWithItsData()
    {
        // mkfs.ext4 makes 1 KiB blocks for devices under 512 MiB: their reflinked snapshots cannot do direct I/O in
        // 1 KiB blocks on XFS (it allows whole 4 KiB blocks only), and must still mount, buffered, as before
        var pool = await NewPoolAsync(dataSize: 1L << 30);
        await pool.CreateThinAsync("old", 64 * MiB, Context);
        await pool.ActivateAsync("old", Context);
        await pool.FormatExt4Async("old", Context);
        Assert.Equal(1024, Ext4.BlockSizeOf(Path.Combine(pool.Record.DataPath!, $"{pool.GetDevice("old").DeviceId}.img")));
        await using (var m = await pool.MountAsync("old", false, Context))
        {
            await File.WriteAllTextAsync(Path.Combine(m.Path, "kept.txt"), "kept");
        }

        await pool.DeactivateAsync("old", Context);
        await pool.CreateSnapshotAsync("new", "old", Context);
        var snapshot = await pool.ActivateAsync("new", Context);
        await using (var m = await pool.MountAsync("new", readOnly: true, Context))
        {
            Assert.Equal("kept", await File.ReadAllTextAsync(Path.Combine(m.Path, "kept.txt")));
        }

        var name = Path.GetFileName(Native.Libc.Pools.RealPath(snapshot) ?? snapshot);
        Assert.Equal(("1024", "0"), (LoopDevicesTests.Sysfs(name, "queue/logical_block_size"), LoopDevicesTests.Sysfs(name, "loop/dio")));
    }

    [SkippableFact]
    public async Task ADeletedDeviceGivesItsSpaceBackToTheHostFilesystem()
    {
        var pool = await NewPoolAsync(dataSize: 1L << 30);
        var path = await MakeFormattedAsync(pool, "big", 256 * MiB);
        using (var s = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            s.Seek(8 * MiB, SeekOrigin.Begin);
            s.Write(System.Security.Cryptography.RandomNumberGenerator.GetBytes(96 << 20));
            s.Flush(flushToDisk: true);
        }

        var image = pool.Record.FilesystemImage!;
        var before = Allocated(image);
        await pool.DeleteAsync("big", Context);
        // XFS discards freed blocks after its log commits; the loop device punches them out of the file
        var after = before;
        for (var i = 0; i < 100 && before - after < 64 * MiB; i++)
        {
            await Task.Delay(100);
            after = Allocated(image);
        }

        Assert.True(before - after >= 64 * MiB, $"the pool's file still holds {after >> 20} MiB (was {before >> 20} MiB) after the device went");
    }

    private static long Allocated(string file)
        => Native.Libc.statx(Native.Libc.AT_FDCWD, file, 0, Native.Libc.STATX_BASIC_STATS, out var st) == 0 ? (long)st.Blocks * 512 : -1;

    [SkippableFact]
    public async Task RemovingThePoolUnmountsItsFilesystemAndDeletesItsFile()
    {
        var pool = await NewPoolAsync();
        var image = pool.Record.FilesystemImage!;
        await MakeFormattedAsync(pool, "a");
        Assert.True(await Catalog.RemoveAsync(PoolName, Context));
        Assert.False(File.Exists(image));
        Assert.Empty(MountTable.Below(StorePath));
        Assert.Empty(LoopDevices.FindByBackingFile(image));
    }
}
