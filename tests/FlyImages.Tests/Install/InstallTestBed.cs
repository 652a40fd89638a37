using FlyImages.Images;
using FlyImages.Install;
using FlyImages.Model;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.Tests.ThinPools;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Tests.Install;

/// <summary>
/// Per test of the whole install path: a fault proxy in front of the class's s3rver, a fresh store, a pool of the test's
/// own (made by <see cref="OpenInstallerAsync"/>; at the end its live snapshots are removed, then the pool), a recording context.
/// </summary>
internal sealed class InstallTestBed : IAsyncDisposable
{
    private readonly TempDirectory dir;

    /// <param name="server">The s3rver of the test class's fixture.</param>
    /// <param name="name">Names the store's folder (flyimages-<paramref name="name"/>-…).</param>
    /// <param name="poolPrefix">The pool's name is this and 8 random hex digits.</param>
    public InstallTestBed(S3rverFixture server, string name, string poolPrefix)
    {
        dir = new TempDirectory("flyimages-" + name);
        PoolName = poolPrefix + Guid.NewGuid().ToString("N")[..8];
        Proxy = new FaultProxy(server.Endpoint);
        Store = FlyStore.Open(dir.Path);
    }

    public FaultProxy Proxy { get; }

    public FlyStore Store { get; }

    public string PoolName { get; }

    public RecordingContext Context { get; } = new();

    /// <summary>Makes the test's pool from <paramref name="spec"/> (its name is <see cref="PoolName"/>) and an installer on it.</summary>
    public async Task<ImageInstaller> OpenInstallerAsync(ThinPoolSpec spec, InstallOptions options)
    {
        await new ThinPoolCatalog(Store).InitializeAsync(spec with { Name = PoolName }, Context);
        return await ImageInstaller.OpenAsync(Store, options, Context, PoolName);
    }

    /// <summary>The public bucket's source, through the proxy.</summary>
    public IImageSource Source() => ImageSourceFactory.Create(new SourceOptions { Source = PublicBucketLayout.SourceUri, Endpoint = Proxy.Endpoint }, Context);

    /// <summary>One listing of the source; the images named, in that order.</summary>
    public async Task<List<Image>> ListAsync(IImageSource source, params string[] names)
    {
        var listed = await ImageCatalog.ListAsync(source, Store, Context);
        return names.Select(n => listed.Single(i => i.Name == n)).ToList();
    }

    /// <summary>The names of the pool's recorded devices.</summary>
    public List<string> Devices() => new ThinPoolRepository(Store).ListDevices(PoolName).Select(d => d.Name).ToList();

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (new ThinPoolRepository(Store).FindPool(PoolName) is not null)
            {
                if (new SnapshotRepository(Store).List().Any(s => s.State != SnapshotState.Removed))
                {
                    var pool = await new ThinPoolCatalog(Store).OpenAsync(PoolName, new RecordingContext());
                    var snapshots = new SnapshotWorkflow(Store, new PoolSnapshotSteps(pool));
                    foreach (var s in snapshots.List().Where(s => s.State != SnapshotState.Removed))
                    {
                        await snapshots.RemoveAsync(s.Source, s.Image, s.Name, new RecordingContext());
                    }
                }

                await new ThinPoolCatalog(Store).RemoveAsync(PoolName, new RecordingContext());
            }
        }
        finally
        {
            Proxy.Dispose();
            dir.Dispose();
        }
    }
}
