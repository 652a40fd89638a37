using System.Management.Automation;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Install;

/// <summary>
/// Get-FlyImage | Install-FlyImage | New-FlyThinSnapshot in a real engine, on a block-file pool (real
/// loop devices), against s3rver; then Get-/Remove-FlyThinSnapshot.
/// </summary>
[Collection(SeededS3Collection.Name)]
public sealed class InstallPipelineTests(SeededS3 s3) : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-store");
    private readonly string pool = "mt" + Guid.NewGuid().ToString("N")[..8];

    private Dictionary<string, object?> Vars => new() { ["ep"] = s3.Endpoint, ["src"] = PublicBucketLayout.SourceUri, ["store"] = store.Path, ["pool"] = pool };

    [SkippableFact]
    public void Images_pipe_through_install_into_snapshots_and_back_out()
    {
        Requirements.RequireLoopDevices();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 2GB -StorePath $store", Vars).ShouldSucceed();

        var r = ps.Invoke("""
            Get-FlyImage golang, node -Source $src -Endpoint $ep -StorePath $store |
                Install-FlyImage -Endpoint $ep -StorePath $store -DeviceSize 256MB |
                New-FlyThinSnapshot -StorePath $store
            """, Vars);
        r.ShouldSucceed();
        Assert.Equal(["golang", "node"], r.Output.Select(o => (string)o.Properties["Image"].Value).Order());
        Assert.All(r.Output, o => Assert.Equal("FlyImages.Workflows.ThinSnapshot", o.TypeNames[0]));
        Assert.All(r.Output, o => Assert.Equal("Active", o.Properties["State"].Value.ToString()));
        Assert.All(r.Output, o => Assert.StartsWith("/dev/loop", (string)o.Properties["DevicePath"].Value, StringComparison.Ordinal));
        // install wrote progress: one bar per image, completed at the end
        Assert.Contains(r.Progress, p => p.Activity == "Installing golang" && p.RecordType == ProgressRecordType.Completed);

        var installed = ps.Invoke("Get-FlyImage -Installed -StorePath $store", Vars);
        installed.ShouldSucceed();
        Assert.All(installed.Output.Where(o => (string)o.Properties["Name"].Value is "golang" or "node"), o => Assert.Equal("Ready", o.Properties["State"].Value.ToString()));

        // by image name, idempotent for the same name
        var named = ps.Invoke("New-FlyThinSnapshot -Image golang -Name web-1 -Source $src -StorePath $store; New-FlyThinSnapshot -Image golang -Name web-1 -Source $src -StorePath $store", Vars);
        named.ShouldSucceed();
        Assert.Equal(2, named.Output.Count);
        Assert.Equal(named.Output[0].Properties["Id"].Value, named.Output[1].Properties["Id"].Value);

        var listed = ps.Invoke("Get-FlyThinSnapshot -StorePath $store -Image golang | Out-Default; Get-FlyThinSnapshot web-* -StorePath $store", Vars);
        listed.ShouldSucceed();
        Assert.Equal("web-1", Assert.Single(listed.Output).Properties["Name"].Value);
        Assert.Matches(@"Name\s+Image\s+State\s+DevicePath", listed.HostText);

        // -WhatIf removes nothing; -Force removes without asking
        var whatIf = ps.Invoke("Get-FlyThinSnapshot -StorePath $store | Remove-FlyThinSnapshot -StorePath $store -WhatIf", Vars);
        whatIf.ShouldSucceed();
        Assert.Contains("What if: Performing the operation \"Deactivate and delete the thin snapshot\"", whatIf.HostText, StringComparison.Ordinal);
        Assert.Equal(3, ps.Invoke("Get-FlyThinSnapshot -StorePath $store", Vars).Output.Count);

        var removed = ps.Invoke("Get-FlyThinSnapshot -StorePath $store | Remove-FlyThinSnapshot -StorePath $store -Force", Vars);
        removed.ShouldSucceed();
        Assert.Equal(0, ps.Host.PromptCount);
        Assert.Empty(ps.Invoke("Get-FlyThinSnapshot -StorePath $store", Vars).Output);

        var missing = ps.Invoke("Remove-FlyThinSnapshot web-1 -StorePath $store -Force", Vars);
        Assert.Equal("SnapshotNotFound,FlyImages.Cmdlets.RemoveFlyThinSnapshotCommand", Assert.Single(missing.Errors).FullyQualifiedErrorId);
    }

    [SkippableFact]
    public void Every_progress_bar_of_a_pipeline_has_its_own_activity_id()
    {
        Requirements.RequireLoopDevices();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 2GB -StorePath $store", Vars).ShouldSucceed();

        // the catalog's bar, then each install's bar with its download and unpack children, and each layer's
        var r = ps.Invoke("""
            Get-FlyImage -Source $src -Endpoint $ep -StorePath $store | Where-Object Name -in golang, node |
                Install-FlyImage -Endpoint $ep -StorePath $store -DeviceSize 256MB
            """, Vars);
        r.ShouldSucceed();
        Assert.Equal(2, r.Output.Count);
        Assert.Contains(r.Progress, p => p.Activity.StartsWith("Listing ", StringComparison.Ordinal));
        Assert.Contains(r.Progress, p => p.Activity == "Installing golang");
        Assert.Contains(r.Progress, p => p.Activity == "Installing node");

        // one bar per id over the whole pipeline: no two bars (visible together or one after the other) share an id
        foreach (var bar in r.Progress.GroupBy(p => p.ActivityId))
        {
            Assert.True(bar.Select(p => p.Activity).Distinct().Count() == 1,
                $"activity id {bar.Key} is used by {string.Join(", ", bar.Select(p => p.Activity).Distinct())}");
        }

        // nested bars name a parent that is an install's own bar
        var installBars = r.Progress.Where(p => p.Activity.StartsWith("Installing ", StringComparison.Ordinal)).Select(p => p.ActivityId).ToHashSet();
        Assert.Equal(2, installBars.Count);
        Assert.All(r.Progress.Where(p => p.Activity.StartsWith("Downloading ", StringComparison.Ordinal) || p.Activity.StartsWith("Unpacking ", StringComparison.Ordinal)),
            p => Assert.Contains(p.ParentActivityId, installBars));

        // every bar ends completed
        foreach (var id in r.Progress.Select(p => p.ActivityId).Distinct())
        {
            Assert.Equal(ProgressRecordType.Completed, r.Progress.Last(p => p.ActivityId == id).RecordType);
        }
    }

    [SkippableFact]
    public void A_pool_on_its_own_reflink_filesystem_installs_and_snapshots_with_shared_blocks()
    {
        Requirements.RequireLoopDevices();
        Requirements.RequireXfs();
        ps.Invoke("Initialize-FlyThinPool -Name plain -Backend BlockFile -DataSize 64MB -StorePath $store", Vars).ShouldSucceed(); // the store exists: -WhatIf gets to the pool
        var whatIf = ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -ReflinkFilesystem -DataSize 2GB -StorePath $store -WhatIf", Vars);
        whatIf.ShouldSucceed();
        Assert.True(whatIf.HostText.Contains("on its own XFS filesystem (reflink)", StringComparison.Ordinal), whatIf.HostText);
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -ReflinkFilesystem -DataSize 2GB -Default -StorePath $store", Vars).ShouldSucceed();
        var devices = Path.Combine(store.Path, "pools", pool, "devices");
        Assert.Contains(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == devices && l.Contains(" - xfs ", StringComparison.Ordinal));

        var r = ps.Invoke("Install-FlyImage golang, node -Source $src -Endpoint $ep -StorePath $store -DeviceSize 256MB | New-FlyThinSnapshot -Name s -StorePath $store", Vars);
        r.ShouldSucceed();
        Assert.Equal(2, r.Output.Count);
        Assert.All(r.Output, o => Assert.Equal("Active", o.Properties["State"].Value.ToString()));

        // 7 chain devices and 2 snapshots of 256 MB each share their blocks: the pool holds about one image's worth
        var status = Assert.Single(ps.Invoke("Get-FlyThinPool $pool -StorePath $store", Vars).Output);
        var used = (long)status.Properties["DataUsedBytes"].Value;
        var logical = Directory.EnumerateFiles(devices, "*.img").Sum(f => new FileInfo(f).Length);
        Assert.True(used < logical / 8, $"{used >> 20} MiB used for {logical >> 20} MiB of device images: blocks are not shared");

        ps.Invoke("Get-FlyThinSnapshot -StorePath $store | Remove-FlyThinSnapshot -StorePath $store -Force", Vars).ShouldSucceed();
    }

    [SkippableFact]
    public void Remove_FlyThinPool_waits_for_the_snapshots_asks_and_leaves_the_images_not_installed()
    {
        Requirements.RequireLoopDevices();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 1GB -StorePath $store", Vars).ShouldSucceed();
        ps.Invoke("Install-FlyImage python -Source $src -Endpoint $ep -StorePath $store -DeviceSize 128MB | New-FlyThinSnapshot -Name py-1 -StorePath $store", Vars).ShouldSucceed();

        var inUse = ps.Invoke("Remove-FlyThinPool $pool -Force -StorePath $store", Vars);
        Assert.Equal("ThinPoolInUse,FlyImages.Cmdlets.RemoveFlyThinPoolCommand", Assert.Single(inUse.Errors).FullyQualifiedErrorId);
        Assert.Contains("Remove-FlyThinSnapshot", Assert.Single(inUse.Errors).ErrorDetails?.RecommendedAction ?? "", StringComparison.Ordinal);
        ps.Invoke("Remove-FlyThinSnapshot py-1 -Force -StorePath $store", Vars).ShouldSucceed();

        var whatIf = ps.Invoke("Get-FlyThinPool -StorePath $store | Remove-FlyThinPool -StorePath $store -WhatIf", Vars);
        whatIf.ShouldSucceed();
        Assert.Contains("layer chain(s) of 1 installed image(s)", whatIf.HostText, StringComparison.Ordinal);
        ps.Host.ChoiceAnswer = 2; // "No"
        ps.Invoke("Remove-FlyThinPool $pool -StorePath $store", Vars).ShouldSucceed();
        Assert.Equal(1, ps.Host.PromptCount);
        Assert.Single(ps.Invoke("Get-FlyThinPool -StorePath $store", Vars).Output);

        ps.Invoke("Get-FlyThinPool -StorePath $store | Remove-FlyThinPool -StorePath $store -Force", Vars).ShouldSucceed();
        Assert.Empty(ps.Invoke("Get-FlyThinPool -StorePath $store", Vars).Output);
        var python = ps.Invoke("Get-FlyImage python -Installed -StorePath $store", Vars);
        python.ShouldSucceed();
        Assert.Equal("Fetched", Assert.Single(python.Output).Properties["State"].Value.ToString());
        Assert.Empty(Leaks.MountsUnder(store.Path));
        Assert.Empty(Leaks.LoopDevicesUnder(store.Path));

        var missing = ps.Invoke("Remove-FlyThinPool $pool -Force -StorePath $store", Vars);
        Assert.Equal("ThinPoolNotFound,FlyImages.Cmdlets.RemoveFlyThinPoolCommand", Assert.Single(missing.Errors).FullyQualifiedErrorId);
    }

    [SkippableFact]
    public void Remove_asks_for_confirmation_and_a_no_keeps_the_snapshot()
    {
        Requirements.RequireLoopDevices();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 1GB -StorePath $store", Vars).ShouldSucceed();
        ps.Invoke("Install-FlyImage python -Source $src -Endpoint $ep -StorePath $store -DeviceSize 128MB | New-FlyThinSnapshot -Name py-1 -StorePath $store", Vars).ShouldSucceed();
        ps.Host.ChoiceAnswer = 2; // "No"
        ps.Invoke("Remove-FlyThinSnapshot py-1 -StorePath $store", Vars).ShouldSucceed();
        Assert.Equal(1, ps.Host.PromptCount);
        Assert.Single(ps.Invoke("Get-FlyThinSnapshot py-1 -StorePath $store", Vars).Output);
        ps.Host.ChoiceAnswer = 0;
        ps.Invoke("Remove-FlyThinSnapshot py-1 -StorePath $store -Confirm:$false", Vars).ShouldSucceed();
        Assert.Empty(ps.Invoke("Get-FlyThinSnapshot -StorePath $store", Vars).Output);
    }

    [Fact]
    public void Snapshot_errors_have_stable_ids()
    {
        var notInstalled = ps.Invoke("New-FlyThinSnapshot -Image golang -Name x -Source $src -StorePath $store -Pool nosuchpool", Vars);
        Assert.NotEmpty(notInstalled.AllErrors);
        var bad = ps.Invoke("Get-FlyThinSnapshot nope -StorePath $store", Vars);
        Assert.Equal("SnapshotNotFound,FlyImages.Cmdlets.GetFlyThinSnapshotCommand", Assert.Single(bad.Errors).FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, bad.Errors[0].CategoryInfo.Category);
    }

    [Fact]
    public void WhatIf_installs_nothing()
    {
        var r = ps.Invoke("Install-FlyImage golang -Source $src -Endpoint $ep -StorePath $store -WhatIf", Vars);
        r.ShouldSucceed();
        Assert.Contains("What if: Performing the operation \"Install 5 layers", r.HostText, StringComparison.Ordinal);
        Assert.Empty(r.Output);
        Assert.Empty(ps.Invoke("Get-FlyImage -Installed -StorePath $store", Vars).Output);
    }

    public void Dispose()
    {
        try
        {
            ps.Invoke("Get-FlyThinSnapshot -StorePath $store -ErrorAction SilentlyContinue | Remove-FlyThinSnapshot -StorePath $store -Force", Vars);
        }
        finally
        {
            ps.Dispose();
            store.Dispose();
        }
    }
}
