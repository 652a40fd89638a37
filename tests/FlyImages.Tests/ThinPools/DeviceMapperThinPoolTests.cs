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
    private static readonly IReadOnlyDictionary<string, string?> NoUdev = new Dictionary<string, string?> { ["DM_DISABLE_UDEV"] = "1" };

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
                await DmsetupAsync("remove", name);
            }
        }

        await DmsetupAsync("remove", PoolName);
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
            try
            {
                await DmsetupAsync("resume", name);
            }
            catch (FlyImages.Errors.FlyException)
            {
            }

            try
            {
                await DmsetupAsync("remove", name);
            }
            catch (FlyImages.Errors.FlyException)
            {
            }
        }
    }

    /// <summary>
    /// dmsetup itself, the independent view of what FlyImages (which talks to the control device) did: its output,
    /// or a FlyException when it fails.
    /// </summary>
    private static async Task<string> DmsetupAsync(params string[] arguments)
    {
        var result = await FlyImages.Processes.ProcessRunner.RunAsync("dmsetup", arguments, TimeSpan.FromMinutes(2), NoUdev);
        return result.Succeeded
            ? result.StandardOutput
            : throw new FlyImages.Errors.FlyException(FlyImages.Errors.ErrorIds.ExternalCommandFailed, FlyImages.Errors.FlyErrorCategory.InvalidResult, $"'{result.CommandText}' failed: {result.StandardError.Trim()}", null);
    }

    /// <summary>dm devices of this test: its pool and <c>flyimages-&lt;pool&gt;-*</c>.</summary>
    private async Task<IReadOnlyList<string>> OurDmDevicesAsync()
    {
        if (!Requirements.HasDeviceMapper)
        {
            return [];
        }

        var output = await DmsetupAsync("ls");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t', ' ')[0])
            .Where(n => n == PoolName || n.StartsWith($"flyimages-{PoolName}-", StringComparison.Ordinal))
            .ToList();
    }

    [SkippableFact]
    public async Task AnExistingPoolIsAdoptedUnchanged()
    {
        var pool = await NewPoolAsync();
        var tableBefore = await DmsetupAsync("table", PoolName);

        // a second store adopts the first store's dm pool by name
        using var other = new TempDirectory("flyimages-pools-adopt");
        var otherStore = FlyImages.State.FlyStore.Open(other.Path);
        var adopted = await new ThinPoolCatalog(otherStore, FastOptions).InitializeAsync(new ThinPoolSpec { Name = PoolName, Backend = ThinPoolBackendChoice.DeviceMapper, DataSize = 1L << 30 }, new RecordingContext());
        Assert.NotNull(adopted);
        Assert.False(adopted.Record.Owned);
        Assert.Equal((pool.Record.DataSize, pool.Record.BlockSize), (adopted.Record.DataSize, adopted.Record.BlockSize));
        Assert.Equal(tableBefore, await DmsetupAsync("table", PoolName));

        // forgetting an adopted pool leaves it in place
        Assert.True(await new ThinPoolCatalog(otherStore, FastOptions).RemoveAsync(PoolName, new RecordingContext()));
        Assert.Equal(tableBefore, await DmsetupAsync("table", PoolName));
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
            await DmsetupAsync("create", PoolName, "--table", $"0 {64 * MiB / 512} thin-pool {metaLoop.Path} {dataLoop.Path} 128 16");
            var e = await Assert.ThrowsAnyAsync<Errors.FlyException>(() => Catalog.OpenAsync(PoolName, new RecordingContext()));
            Assert.Equal(Errors.ErrorIds.ThinPoolConflict, e.ErrorId);
        }
        finally
        {
            try
            {
                await DmsetupAsync("remove", PoolName);
            }
            finally
            {
                await LoopDevices.DetachAsync(metaLoop, CancellationToken.None);
                await LoopDevices.DetachAsync(dataLoop, CancellationToken.None);
            }
        }
    }
}
