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
