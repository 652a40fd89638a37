using FlyImages.TestSupport;
using FlyImages.ThinPools;
using FlyImages.ThinPools.BlockFile;
using FlyImages.ThinPools.DeviceMapper;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// The same contract on a real devicemapper thin-pool (loop-backed files under the store). Runs where
/// the kernel has dm-thin-pool and we are root (tests/vm runs it in qemu with DM_DISABLE_UDEV=1);
/// elsewhere every test is reported as not run, never faked.
/// </summary>
[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DeviceMapperThinPoolTests : ThinPoolContractTests
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.DeviceMapper;

    protected override void RequireBackend()
    {
        Requirements.RequireDeviceMapper();
        Requirements.RequireLoopDevices();
    }

    private protected override async Task SimulateRebootAsync(ThinPool pool)
    {
        foreach (var name in await OurDmDevicesAsync())
        {
            if (name != PoolName)
            {
                await DmsetupCli.OutputAsync("remove", name);
            }
        }

        await DmsetupCli.OutputAsync("remove", PoolName);
        foreach (var file in new[] { pool.Record.DataPath!, pool.Record.MetadataPath! })
        {
            foreach (var loop in LoopDevices.FindByBackingFile(file))
            {
                await LoopDevices.DetachAsync(loop, CancellationToken.None);
            }
        }
    }

    protected override async Task<IReadOnlyList<string>> LeftoversAsync() => (await OurDmDevicesAsync()).Select(n => "dm device " + n).ToList();

    protected override async Task CleanUpLeftoversAsync()
    {
        if (!Requirements.HasDeviceMapper)
        {
            return;
        }

        var names = await OurDmDevicesAsync();
        foreach (var name in names.Where(n => n != PoolName).Append(PoolName).Where(names.Contains))
        {
            await DmsetupCli.RunAsync("resume", name);
            await DmsetupCli.RunAsync("remove", name);
        }
    }

    /// <summary>dm devices of this test: its pool and <c>flyimages-&lt;pool&gt;-*</c>.</summary>
    private async Task<IReadOnlyList<string>> OurDmDevicesAsync()
    {
        if (!Requirements.HasDeviceMapper)
        {
            return [];
        }

        var output = await DmsetupCli.OutputAsync("ls");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t', ' ')[0])
            .Where(n => n == PoolName || n.StartsWith($"flyimages-{PoolName}-", StringComparison.Ordinal))
            .ToList();
    }

    [SkippableFact]
    public async Task AnExistingPoolIsAdoptedUnchanged()
    {
        var pool = await NewPoolAsync();
        var tableBefore = await DmsetupCli.OutputAsync("table", PoolName);

        // a second store adopts the first store's dm pool by name
        using var other = new TempDirectory("flyimages-pools-adopt");
        var otherStore = FlyImages.State.FlyStore.Open(other.Path);
        var adopted = await new ThinPoolCatalog(otherStore, FastOptions).InitializeAsync(new ThinPoolSpec { Name = PoolName, Backend = ThinPoolBackendChoice.DeviceMapper, DataSize = 1L << 30 }, new RecordingContext());
        Assert.NotNull(adopted);
        Assert.False(adopted.Record.Owned);
        Assert.Equal((pool.Record.DataSize, pool.Record.BlockSize), (adopted.Record.DataSize, adopted.Record.BlockSize));
        Assert.Equal(tableBefore, await DmsetupCli.OutputAsync("table", PoolName));

        // forgetting an adopted pool leaves it in place
        Assert.True(await new ThinPoolCatalog(otherStore, FastOptions).RemoveAsync(PoolName, new RecordingContext()));
        Assert.Equal(tableBefore, await DmsetupCli.OutputAsync("table", PoolName));
    }

    [SkippableFact]
    public async Task AnotherPoolThatTookTheNameAfterARebootIsNotUsed()
    {
        var pool = await NewPoolAsync(dataSize: 64 * MiB);
        await SimulateRebootAsync(pool);
        Catalog.ForgetReconciled();

        // after the "reboot" someone else makes a thin-pool with the same name on other files
        using var other = new TempDirectory("flyimages-pools-impostor");
        var meta = other.Combine("meta.img");
        var data = other.Combine("data.img");
        File.WriteAllBytes(meta, []);
        File.WriteAllBytes(data, []);
        using (var m = new FileStream(meta, FileMode.Open)) { m.SetLength(8 * MiB); }
        using (var d = new FileStream(data, FileMode.Open)) { d.SetLength(64 * MiB); }
        var metaLoop = await LoopDevices.FindOrAttachAsync(meta, TimeSpan.FromMinutes(1), CancellationToken.None);
        var dataLoop = await LoopDevices.FindOrAttachAsync(data, TimeSpan.FromMinutes(1), CancellationToken.None);
        try
        {
            await DmsetupCli.OutputAsync("create", PoolName, "--table", $"0 {64 * MiB / 512} thin-pool {metaLoop.Path} {dataLoop.Path} 128 16");
            var e = await Assert.ThrowsAnyAsync<Errors.FlyException>(() => Catalog.OpenAsync(PoolName, new RecordingContext()));
            Assert.Equal(Errors.ErrorIds.ThinPoolConflict, e.ErrorId);
        }
        finally
        {
            try
            {
                await DmsetupCli.OutputAsync("remove", PoolName);
            }
            finally
            {
                await LoopDevices.DetachAsync(metaLoop, CancellationToken.None);
                await LoopDevices.DetachAsync(dataLoop, CancellationToken.None);
            }
        }
    }
}
