using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Install;

/// <summary>Install-FlyImage fetches as Save-FlyImage does: the same parameters, the same bounded retries, the same fallback for endpoints that ignore Range.</summary>
[Collection(SeededS3Collection.Name)]
public sealed class InstallFetchTests : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-instfetch");
    private readonly string pool = "if" + Guid.NewGuid().ToString("N")[..8];
    private readonly FaultProxy proxy;

    public InstallFetchTests(SeededS3 s3) => proxy = new FaultProxy(s3.Endpoint);

    private Dictionary<string, object?> Vars => new() { ["ep"] = proxy.Endpoint, ["src"] = PublicBucketLayout.SourceUri, ["store"] = store.Path, ["pool"] = pool };

    [SkippableFact]
    public void Install_takes_the_fetch_parameters_tries_a_failing_part_at_most_five_times_and_copes_with_an_endpoint_that_ignores_Range()
    {
        Requirements.RequireLoopDevices();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 2GB -StorePath $store", Vars).ShouldSucceed();

        proxy.Faults = p => p.IsGet && p.Path.EndsWith("/golang/4.tar", StringComparison.Ordinal) ? new Fault.Status(500) : null;
        var failed = ps.Invoke("Install-FlyImage golang -Source $src -Endpoint $ep -StorePath $store -DeviceSize 128MB -PartSize 64KB -PartConcurrency 2 -LayerConcurrency 1 -StallTimeoutSeconds 5 -MaxBlobSize 1GB", Vars);
        Assert.NotEmpty(failed.AllErrors);
        Assert.Equal(5, proxy.Gets("/golang/4.tar").Count);

        // the first GET of layer 4 ends after 100 bytes; the ranged GET for the rest gets the whole object
        proxy.Clear();
        var first = 1;
        proxy.Faults = p => p.IsGet && p.Path.EndsWith("/golang/4.tar", StringComparison.Ordinal)
            ? (Interlocked.Exchange(ref first, 0) == 1 ? new Fault.Truncate(100) : new Fault.IgnoreRange())
            : null;
        var r = ps.Invoke("Install-FlyImage golang -Source $src -Endpoint $ep -StorePath $store -DeviceSize 128MB -Verbose", Vars);
        r.ShouldSucceed();
        Assert.Equal("Ready", Assert.Single(r.Output).Properties["State"].Value.ToString());
        Assert.Contains(r.Verbose, v => v.Contains("golang/4.tar", StringComparison.Ordinal) && v.Contains("ignores Range", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        // the folder goes, with what the pool keeps mounted and attached (TempDirectory takes those down)
        ps.Dispose();
        proxy.Dispose();
        store.Dispose();
    }
}
