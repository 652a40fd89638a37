using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Surface;

/// <summary>
/// The surface on a real block-file pool (loop devices) against s3rver and a folder source: a pipeline from an
/// S3 endpoint that repeats nothing, snapshots of images found in the store whatever their source (and a clear
/// error when two sources have one), overlapping patterns, and the views of snapshots, pools and events.
/// </summary>
[Collection(SeededS3Collection.Name)]
public sealed class SnapshotSurfaceTests(SeededS3 s3) : IDisposable
{
    private readonly PowerShellSession ps = new(80);
    private readonly TempDirectory store = new("flyimages-store");
    private readonly TempDirectory work = new("flyimages-work");
    private readonly string pool = "ss" + Guid.NewGuid().ToString("N")[..8];

    private Dictionary<string, object?> Vars => new()
    {
        ["ep"] = s3.Endpoint,
        ["src"] = PublicBucketLayout.SourceUri,
        ["store"] = store.Path,
        ["work"] = work.Path,
        ["folder"] = work.Combine("images"),
        ["folderUri"] = new Uri(work.Combine("images")).AbsoluteUri,
        ["pool"] = pool,
    };

    [SkippableFact]
    public void Snapshots_find_installed_images_whatever_their_source_and_pipelines_repeat_nothing()
    {
        Requirements.RequireLoopDevices();
        PublicBucketLayout.WriteFolder(work.Combine("images"));
        // the store is the session's; the pipeline below names the endpoint once
        ps.Invoke("$PSDefaultParameterValues['*-Fly*:StorePath'] = $store; Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 2GB", Vars).ShouldSucceed();

        var piped = ps.Invoke("Get-FlyImage golang -Source $src -Endpoint $ep | Install-FlyImage -DeviceSize 256MB | New-FlyThinSnapshot -Name s3-1", Vars);
        piped.ShouldSucceed();
        var fromS3 = Assert.Single(piped.Output);
        Assert.Equal("Active", fromS3.Properties["State"].Value.ToString());
        Assert.Equal(PublicBucketLayout.SourceUri, fromS3.Properties["Source"].Value);

        // issue 11: installed from a folder, then snapshotted by name alone
        var node = ps.Invoke("Install-FlyImage node -Source $folder -DeviceSize 256MB | Out-Null; New-FlyThinSnapshot -Image node -Name web-1", Vars);
        node.ShouldSucceed();
        Assert.Equal(new Uri(work.Combine("images")).AbsoluteUri, Assert.Single(node.Output).Properties["Source"].Value);

        // two sources have golang installed: the error names both; -Source (relative to the location) picks one
        ps.Invoke("Install-FlyImage golang -Source $folder -DeviceSize 256MB", Vars).ShouldSucceed();
        var ambiguous = ps.Invoke("New-FlyThinSnapshot -Image golang -Name web-2", Vars);
        var error = Assert.Single(ambiguous.AllErrors);
        Assert.Equal("ImageNameAmbiguous,FlyImages.Cmdlets.NewFlyThinSnapshotCommand", error.FullyQualifiedErrorId);
        Assert.Contains(PublicBucketLayout.SourceUri, error.ToString(), StringComparison.Ordinal);
        Assert.Contains(new Uri(work.Combine("images")).AbsoluteUri, error.ToString(), StringComparison.Ordinal);
        Assert.Empty(ambiguous.Output);

        var chosen = ps.Invoke("$ExecutionContext.SessionState.Path.PushCurrentLocation(''); try { $null = $ExecutionContext.SessionState.Path.SetLocation($work); New-FlyThinSnapshot -Image golang -Name web-2 -Source ./images } finally { $null = $ExecutionContext.SessionState.Path.PopLocation('') }", Vars);
        chosen.ShouldSucceed();
        Assert.Equal(new Uri(work.Combine("images")).AbsoluteUri, Assert.Single(chosen.Output).Properties["Source"].Value);

        // overlapping patterns: each object once
        var snapshots = ps.Invoke("Get-FlyThinSnapshot web-*, web-1, WEB-2", Vars);
        snapshots.ShouldSucceed();
        Assert.Equal(["web-1", "web-2"], snapshots.Output.Select(o => (string)o.Properties["Name"].Value).Order());
        var pools = ps.Invoke("Get-FlyThinPool $pool, *", Vars);
        pools.ShouldSucceed();
        Assert.Equal(pool, Assert.Single(pools.Output).Properties["Name"].Value);
        var events = ps.Invoke("@(Get-FlyImageEvent golang).Count; @(Get-FlyImageEvent golang, go*, GOLANG).Count; @('golang', 'go*' | Get-FlyImageEvent).Count", Vars);
        events.ShouldSucceed();
        Assert.NotEqual("0", events.Output[0].ToString());
        Assert.Equal(events.Output[0].ToString(), events.Output[1].ToString());
        Assert.Equal(events.Output[0].ToString(), events.Output[2].ToString());

        // the views of snapshots, pools and events fit 80 columns, live and deserialized
        ViewChecks.AssertViews(ps, Vars, "Get-FlyThinSnapshot", "Name", "Image", "State", "DevicePath");
        ViewChecks.AssertViews(ps, Vars, "Get-FlyThinPool", "Name", "Backend", "Mode", "Data used", "Devices", "Default");
        ViewChecks.AssertViews(ps, Vars, "Get-FlyImageEvent node", "Time (UTC)", "Image", "Kind", "From", "To", "Took", "Message");

        // Remove-FlyThinSnapshot reads -Source with the same resolver: the file:// URI is the folder
        var removed = ps.Invoke("Remove-FlyThinSnapshot web-2 -Image golang -Source $folderUri -Force; Get-FlyThinSnapshot web-*", Vars);
        removed.ShouldSucceed();
        Assert.Equal("web-1", Assert.Single(removed.Output).Properties["Name"].Value);
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
            work.Dispose();
        }
    }
}
