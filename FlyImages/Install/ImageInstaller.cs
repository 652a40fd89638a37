using System.Collections.Concurrent;
using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Install;

/// <summary>
/// Installs images: retrieves each layer blob only if it is not already here, unpacks each layer chain
/// into a thin device only if that was not already done, and records the image Ready when its top
/// chain is sealed. The persisted <see cref="InstallWorkflow"/> drives it; this class plugs in the
/// content store, the unpacker and the thin pool, recovers runs that died, and reports progress.
/// </summary>
public sealed class ImageInstaller
{
    private readonly FlyStore store;
    private readonly IThinPool pool;
    private readonly InstallOptions options;
    private readonly ContentStore content;

    private ImageInstaller(FlyStore store, IThinPool pool, InstallOptions options)
    {
        this.store = store;
        this.pool = pool;
        this.options = options;
        content = new ContentStore(store, options.Fetch);
    }

    public IThinPool Pool => pool;

    /// <summary>
    /// Opens the pool <paramref name="poolName"/>, else the store's default pool (Initialize-FlyThinPool's, else
    /// a new Auto pool: installing is one of the two things that make a pool), and recovers runs that died.
    /// </summary>
    public static async Task<ImageInstaller> OpenAsync(FlyStore store, InstallOptions options, IOperationContext context, string? poolName = null)
    {
        var pools = new ThinPoolCatalog(store);
        var pool = poolName is null
            ? await pools.OpenOrCreateDefaultAsync(context).ConfigureAwait(false)
            : await pools.OpenAsync(poolName, context).ConfigureAwait(false);
        var installer = new ImageInstaller(store, pool, options);
        await installer.RecoverAsync(context).ConfigureAwait(false);
        return installer;
    }

    /// <summary>Runs left half-done by a process that is gone are resumed or rolled back (half-made chain devices deleted).</summary>
    public async Task<IReadOnlyList<RecoveredWorkflow>> RecoverAsync(IOperationContext context)
    {
        var steps = new ImageInstallSteps(new NoSource(), content, pool, options);
        var recovered = await new WorkflowRecovery(store, CompensationRegistry.ForChains(store, steps, context)).RecoverAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var r in recovered)
        {
            context.WriteVerbose($"Recovered {r.Kind} '{r.Subject}' left {r.State}: {r.Outcome} ({r.Detail}).");
        }

        return recovered;
    }

    /// <summary>
    /// Installs <paramref name="image"/> from <paramref name="source"/> unless it is Ready. Progress: one bar
    /// (<paramref name="activityId"/>, default: a new id of the context's) with child bars for the download and the
    /// unpack, each with its own id from the context's allocator.
    /// </summary>
    public async Task<InstallResult> InstallAsync(IImageSource source, Image image, IOperationContext context, int? activityId = null)
    {
        if (options.Force || new ImageRepository(store).Find(image.Source, image.Name)?.State != ImageState.Ready)
        {
            // a read-only, needs_check or failed pool takes no new devices: say so before fetching anything
            ChainWriteGuard.RefuseUnusable(pool.Name, await pool.GetStatusAsync(context).ConfigureAwait(false));
        }

        var bars = new InstallBars(context, image.Name, activityId ?? context.NewActivityId());
        var steps = new ImageInstallSteps(source, content, pool, options)
        {
            OnFetchProgress = bars.Download,
            OnApply = bars.Apply,
        };
        var workflow = new InstallWorkflow(store, steps, new WorkflowOptions
        {
            Force = options.Force,
            FetchParallelism = options.Fetch.LayerConcurrency,
            OnProgress = bars.Overall,
        });
        try
        {
            var result = await workflow.RunAsync(image, context).ConfigureAwait(false);
            ImageUse.Touch(store, image.Source, image.Name); // an install is a use: the collector spares recently used images
            return result;
        }
        finally
        {
            bars.Complete();
        }
    }

    /// <summary>The progress bars of one install: the image, its downloads, its unpacking.</summary>
    private sealed class InstallBars(IOperationContext context, string image, int id)
    {
        private readonly int downloadId = context.NewActivityId();
        private readonly int unpackId = context.NewActivityId();
        private readonly ConcurrentDictionary<string, LayerProgress> downloads = new(StringComparer.Ordinal);
        private DateTime lastDownload = DateTime.MinValue;

        public void Overall(InstallProgress p)
        {
            var done = p.Fetched + p.Sealed;
            var percent = p.Layers == 0 ? 0 : Math.Clamp(done * 100 / (2 * p.Layers), 0, 100);
            context.WriteProgress(new ProgressReport(id, $"Installing {image}", $"{p.State}: {p.Fetched}/{p.Layers} layers fetched, {p.Sealed}/{p.Layers} unpacked", percent));
        }

        public void Download(string key, LayerProgress p)
        {
            downloads[key] = p;
            var now = DateTime.UtcNow;
            if (now - lastDownload < TimeSpan.FromMilliseconds(200) && p.BytesDone < p.TotalBytes)
            {
                return;
            }

            lastDownload = now;
            var active = downloads.Values.Where(d => d.BytesDone < d.TotalBytes).ToList();
            if (active.Count == 0)
            {
                context.WriteProgress(new ProgressReport(downloadId, $"Downloading {image}", "done", ParentActivityId: id, Completed: true));
                return;
            }

            long doneBytes = active.Sum(d => d.BytesDone), total = active.Sum(d => d.TotalBytes);
            var rate = active.Sum(d => d.BytesPerSecond);
            var eta = rate > 0 ? (int)Math.Min(int.MaxValue, (total - doneBytes) / rate) : -1;
            context.WriteProgress(new ProgressReport(downloadId, $"Downloading {image}",
                $"{active.Count} blob(s): {ByteSize.Format(doneBytes)} of {ByteSize.Format(total)}, {ByteSize.Format((long)rate)}/s",
                total == 0 ? -1 : (int)(doneBytes * 100 / total), eta, string.Join(", ", active.Select(a => a.Key)), ParentActivityId: id));
        }

        public void Apply(ChainPlan chain, bool finished) => context.WriteProgress(new ProgressReport(unpackId, $"Unpacking {image}",
            finished ? $"layer {chain.Depth} applied" : $"applying layer {chain.Depth}", -1, ParentActivityId: id, Completed: finished));

        public void Complete()
        {
            context.WriteProgress(new ProgressReport(unpackId, $"Unpacking {image}", "done", ParentActivityId: id, Completed: true));
            context.WriteProgress(new ProgressReport(downloadId, $"Downloading {image}", "done", ParentActivityId: id, Completed: true));
            context.WriteProgress(new ProgressReport(id, $"Installing {image}", "done", Completed: true));
        }
    }

    /// <summary>Recovery's compensations only delete devices; they never read a source.</summary>
    private sealed class NoSource : IImageSource
    {
        public SourceSpec Spec { get; } = new(SourceKind.Directory, "", "", "/");

        public string Location => "(none)";

        public void Dispose()
        {
        }

        public IAsyncEnumerable<SourceObject> ListAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("recovery reads no source");

        public Task<SourceRead> OpenReadAsync(string key, long offset, long? length, string? ifMatchETag, CancellationToken cancellationToken) => throw new InvalidOperationException("recovery reads no source");

        public Task<SourceObject> StatAsync(string key, CancellationToken cancellationToken) => throw new InvalidOperationException("recovery reads no source");
    }
}
