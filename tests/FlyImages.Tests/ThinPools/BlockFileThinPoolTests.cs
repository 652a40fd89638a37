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
        var pool = await ThinPoolManager.OpenDefaultAsync(Store, context, FastOptions);
        try
        {
            Assert.Equal((ThinPoolBackend.BlockFile, ThinPoolSpec.DefaultName), (pool.Backend, pool.Name));
            Assert.Contains(context.Warnings, w => w.Contains("no device-mapper", StringComparison.Ordinal));
            Assert.True(pool.Record.IsDefault);
            Assert.Equal(ThinPoolSpec.DefaultDataSize, pool.Record.DataSize);
        }
        finally
        {
            await ThinPoolManager.RemoveAsync(Store, pool.Name, context, FastOptions);
        }
    }

    [SkippableFact]
    public async Task ADeviceMapperPoolIsRefusedWhenTheKernelHasNone()
    {
        Skip.If(Requirements.HasDeviceMapper, "this kernel has device-mapper");
        var e = await Assert.ThrowsAsync<Errors.FlyException>(() => ThinPoolManager.InitializeAsync(Store, new ThinPoolSpec { Name = PoolName, Backend = ThinPoolBackendChoice.DeviceMapper }, new RecordingContext()));
        Assert.Equal(Errors.ErrorIds.ThinPoolBackendUnavailable, e.ErrorId);
        Assert.Empty(ThinPoolManager.List(Store));
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
        await MakeFormattedAsync(pool, "base", 256 * MiB);
        await using (var m = await pool.MountAsync("base"))
        {
            await File.WriteAllBytesAsync(Path.Combine(m.Path, "big"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 << 20));
        }

        await pool.DeactivateAsync("base");
        var before = (await pool.GetStatusAsync()).DataUsedBytes;
        for (var i = 0; i < 4; i++)
        {
            await pool.CreateSnapshotAsync($"s{i}", "base");
        }

        var after = (await pool.GetStatusAsync()).DataUsedBytes;
        Assert.True(after - before < 16 * MiB, $"four snapshots of a 64 MiB device took {(after - before) >> 20} MiB: not shared");
        Assert.Contains(Context.Verbose, v => v.Contains("copied by Reflink", StringComparison.Ordinal));

        await pool.ActivateAsync("s3");
        await using (var m = await pool.MountAsync("s3", readOnly: true))
        {
            Assert.Equal(64 << 20, new FileInfo(Path.Combine(m.Path, "big")).Length);
        }
    }

    [SkippableFact]
    public async Task RemovingThePoolUnmountsItsFilesystemAndDeletesItsFile()
    {
        var pool = await NewPoolAsync();
        var image = pool.Record.FilesystemImage!;
        await MakeFormattedAsync(pool, "a");
        Assert.True(await ThinPoolManager.RemoveAsync(Store, PoolName, Context, FastOptions));
        Assert.False(File.Exists(image));
        Assert.Empty(MountTable.Below(StorePath));
        Assert.Empty(LoopDevices.FindByBackingFile(image));
    }
}
