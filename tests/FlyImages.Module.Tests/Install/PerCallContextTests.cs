using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Install;

/// <summary>
/// A cmdlet keeps its open pool across piped images, and the pool keeps no caller's context: what the
/// pool reports while the SECOND piped image is processed still reaches the pipeline. And only
/// Initialize-FlyThinPool and Install-FlyImage make a pool.
/// </summary>
[Collection(SeededS3Collection.Name)]
public sealed class PerCallContextTests(SeededS3 s3) : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-store");
    private readonly string pool = "pc" + Guid.NewGuid().ToString("N")[..8];

    private Dictionary<string, object?> Vars => new() { ["ep"] = s3.Endpoint, ["src"] = PublicBucketLayout.SourceUri, ["store"] = store.Path, ["pool"] = pool };

    [SkippableFact]
    public void The_pools_verbose_lines_of_the_second_piped_image_reach_the_pipeline()
    {
        Requirements.RequireLoopDevices();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 2GB -StorePath $store", Vars).ShouldSucceed();

        var r = ps.Invoke("""
            Install-FlyImage golang, node -Source $src -Endpoint $ep -StorePath $store -DeviceSize 256MB -Verbose |
                New-FlyThinSnapshot -Name s -StorePath $store -Verbose
            """, Vars);
        r.ShouldSucceed();
        Assert.Equal(2, r.Output.Count);

        // New-FlyThinSnapshot: each image's snapshot is reported by the pool, the second one too (it used to go
        // to the first image's context, disposed when that image was done)
        var lines = r.Verbose.ToList();
        var snapshotDone = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("Snapshot 's' of '", StringComparison.Ordinal)).Select(x => x.i).ToList();
        Assert.Equal(2, snapshotDone.Count);
        var poolMade = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith($"Pool '{pool}': created snapshot", StringComparison.Ordinal)).Select(x => x.i).ToList();
        Assert.True(poolMade.Any(i => i > snapshotDone[0] && i < snapshotDone[1]),
            "no pool line while the second image's snapshot was made:" + Environment.NewLine + string.Join(Environment.NewLine, lines));

        // Install-FlyImage: the second image's chain devices are reported by the pool too
        var installDone = lines.Select((l, i) => (l, i)).Where(x => x.l.Contains("' is Ready (run ", StringComparison.Ordinal)).Select(x => x.i).ToList();
        Assert.Equal(2, installDone.Count);
        Assert.Contains(lines.Skip(installDone[0] + 1).Take(installDone[1] - installDone[0]), l => l.StartsWith($"Pool '{pool}': created ", StringComparison.Ordinal));

        ps.Invoke("Get-FlyThinSnapshot -StorePath $store | Remove-FlyThinSnapshot -StorePath $store -Force", Vars).ShouldSucceed();
    }

    [Fact]
    public void New_FlyThinSnapshot_on_a_store_without_a_pool_fails_and_makes_none()
    {
        var r = ps.Invoke("New-FlyThinSnapshot -Image golang -Name s -Source $src -StorePath $store", Vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("ImageNotReady,FlyImages.Cmdlets.NewFlyThinSnapshotCommand", error.FullyQualifiedErrorId);
        Assert.Contains("Install-FlyImage", error.ErrorDetails?.RecommendedAction ?? "", StringComparison.Ordinal);
        Assert.Empty(r.Output);

        var pools = ps.Invoke("Get-FlyThinPool -StorePath $store", Vars);
        pools.ShouldSucceed();
        Assert.Empty(pools.Output);
        Assert.False(Directory.Exists(Path.Combine(store.Path, "pools")), "a pool folder was made");
        Assert.Empty(Leaks.LoopDevicesUnder(store.Path));
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path.Combine(store.Path, "pools")))
            {
                ps.Invoke("Get-FlyThinSnapshot -StorePath $store | Remove-FlyThinSnapshot -StorePath $store -Force; Get-FlyThinPool -StorePath $store | Remove-FlyThinPool -StorePath $store -Force", Vars);
            }
        }
        finally
        {
            ps.Dispose();
            store.Dispose();
        }
    }
}
