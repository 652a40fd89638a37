using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.ThinPools;

/// <summary>Initialize-FlyThinPool and Get-FlyThinPool in the published module (block-file pools: no devices attached).</summary>
public sealed class ThinPoolCmdletTests : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-store-pools");

    private Dictionary<string, object?> Vars => new() { ["store"] = store.Path };

    [Fact]
    public void Initialize_makes_a_block_file_pool_and_Get_shows_it_typed_and_formatted()
    {
        var made = ps.Invoke("Initialize-FlyThinPool -Name p1 -Backend BlockFile -DataSize 64MB -FreeSpaceFloorPercent 5 -StorePath $store", Vars);
        made.ShouldSucceed();
        var status = Assert.Single(made.Output);
        Assert.Equal("FlyImages.ThinPools.ThinPoolStatus", status.TypeNames[0]);
        Assert.Equal(("p1", "BlockFile", "ReadWrite"), ((string)status.Properties["Name"].Value, status.Properties["Backend"].Value.ToString(), status.Properties["Mode"].Value.ToString()));
        Assert.Equal(64L << 20, (long)status.Properties["DataTotalBytes"].Value);
        Assert.Equal(5.0, (double)status.Properties["FreeSpaceFloorPercent"].Value);
        Assert.True((bool)status.Properties["IsDefault"].Value);
        Assert.True(Directory.Exists(Path.Combine(store.Path, "pools", "p1", "devices")));

        var listed = ps.Invoke("Get-FlyThinPool -StorePath $store", Vars);
        listed.ShouldSucceed();
        Assert.Equal("p1", Assert.Single(listed.Output).Properties["Name"].Value);
        Assert.Equal(0, (int)listed.Output[0].Properties["DeviceCount"].Value);

        var table = ps.Invoke("Get-FlyThinPool -StorePath $store | Out-Default", Vars);
        table.ShouldSucceed();
        var text = table.HostText;
        Assert.Contains("Backend", text, StringComparison.Ordinal);
        Assert.Contains("BlockFile", text, StringComparison.Ordinal);
        Assert.Contains("% of 64.0 MiB", text, StringComparison.Ordinal);
        Assert.Matches(@"BlockFile(\+XFS)? ", text); // own XFS, or block files in a folder
        Assert.Contains((string)listed.Output[0].Properties["Storage"].Value, new[] { "own XFS", "folder" });
    }

    [Fact]
    public void Initialize_is_idempotent_and_leaves_an_existing_pool_alone()
    {
        ps.Invoke("Initialize-FlyThinPool -Name p1 -Backend BlockFile -DataSize 64MB -StorePath $store", Vars).ShouldSucceed();
        var again = ps.Invoke("Initialize-FlyThinPool -Name p1 -DataSize 128MB -StorePath $store", Vars);
        again.ShouldSucceed();
        Assert.Equal(64L << 20, (long)Assert.Single(again.Output).Properties["DataTotalBytes"].Value);
        Assert.Contains(again.Warnings, w => w.Contains("left alone", StringComparison.Ordinal));
        Assert.Single(ps.Invoke("Get-FlyThinPool -StorePath $store", Vars).Output);
    }

    [Fact]
    public void WhatIf_creates_neither_store_nor_pool()
    {
        var r = ps.Invoke("Initialize-FlyThinPool -Name p1 -Backend BlockFile -StorePath $store -WhatIf", Vars);
        r.ShouldSucceed();
        Assert.Empty(r.Output);
        Assert.Contains("What if", r.HostText, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(store.Path, "flyimages.db")));
        Assert.False(Directory.Exists(Path.Combine(store.Path, "pools")));

        // with a store present, -WhatIf still makes no pool
        ps.Invoke("Initialize-FlyThinPool -Name p0 -Backend BlockFile -StorePath $store", Vars).ShouldSucceed();
        ps.Invoke("Initialize-FlyThinPool -Name p2 -Backend BlockFile -StorePath $store -WhatIf", Vars).ShouldSucceed();
        Assert.Equal(["p0"], ps.Invoke("Get-FlyThinPool -StorePath $store", Vars).Output.Select(o => (string)o.Properties["Name"].Value));
    }

    [Fact]
    public void Errors_carry_stable_ids()
    {
        var missing = ps.Invoke("Get-FlyThinPool nosuch -StorePath $store", Vars);
        Assert.Empty(missing.Output); // no store yet: nothing recorded, one error for the explicit name
        Assert.Equal("ThinPoolNotFound,FlyImages.Cmdlets.GetFlyThinPoolCommand", Assert.Single(missing.AllErrors).FullyQualifiedErrorId);
        Assert.Empty(ps.Invoke("Get-FlyThinPool no* -StorePath $store", Vars).AllErrors);

        var badName = ps.Invoke("Initialize-FlyThinPool -Name '../x' -Backend BlockFile -StorePath $store", Vars);
        Assert.Equal("ThinPoolNameInvalid,FlyImages.Cmdlets.InitializeFlyThinPoolCommand", Assert.Single(badName.AllErrors).FullyQualifiedErrorId);

        var badBlock = ps.Invoke("Initialize-FlyThinPool -Name p -Backend BlockFile -BlockSize 100KB -StorePath $store", Vars);
        Assert.Equal("ThinPoolSizeInvalid,FlyImages.Cmdlets.InitializeFlyThinPoolCommand", Assert.Single(badBlock.AllErrors).FullyQualifiedErrorId);
    }

    [SkippableFact]
    public void Without_device_mapper_DeviceMapper_is_refused_and_Auto_falls_back_saying_so()
    {
        Skip.If(Requirements.HasDeviceMapper, "this kernel has device-mapper");
        var dm = ps.Invoke("Initialize-FlyThinPool -Name p -Backend DeviceMapper -StorePath $store", Vars);
        Assert.Equal("ThinPoolBackendUnavailable,FlyImages.Cmdlets.InitializeFlyThinPoolCommand", Assert.Single(dm.AllErrors).FullyQualifiedErrorId);

        var auto = ps.Invoke("Initialize-FlyThinPool -Name p -StorePath $store", Vars);
        auto.ShouldSucceed();
        Assert.Equal("BlockFile", Assert.Single(auto.Output).Properties["Backend"].Value.ToString());
        Assert.Contains(auto.Warnings, w => w.Contains("no device-mapper", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        ps.Dispose();
        store.Dispose();
    }
}
