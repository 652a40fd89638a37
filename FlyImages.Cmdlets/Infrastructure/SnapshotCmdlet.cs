using FlyImages.Errors;
using FlyImages.Install;
using FlyImages.Model;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>The snapshot cmdlets share the store, the pool and the workflow.</summary>
public abstract class SnapshotCmdlet : FlyCmdlet
{
    private FlyStore? store;
    private ThinPoolCatalog? pools;
    private readonly Dictionary<string, SnapshotWorkflow> workflows = new(StringComparer.Ordinal);

    protected FlyStore Store => store ??= FlyStore.Open(ResolvedStorePath);

    /// <summary>
    /// The snapshot workflow over <paramref name="pool"/> (null: the store's default pool), kept for the
    /// invocation (the pool keeps no context: each call passes its own). Never makes a pool: a store without
    /// one fails with ThinPoolNotFound. Call inside RunCore.
    /// </summary>
    internal async Task<SnapshotWorkflow> WorkflowAsync(string? pool, Operations.IOperationContext context)
    {
        var key = pool ?? "";
        if (!workflows.TryGetValue(key, out var workflow))
        {
            pools ??= new ThinPoolCatalog(Store);
            var thinPool = pool is null
                ? await pools.OpenDefaultAsync(context).ConfigureAwait(false)
                : await pools.OpenAsync(pool, context).ConfigureAwait(false);
            workflows[key] = workflow = new SnapshotWorkflow(Store, new PoolSnapshotSteps(thinPool));
        }

        return workflow;
    }

    /// <summary>
    /// The installed image a snapshot cmdlet means by <paramref name="image"/>: from <paramref name="source"/> when one
    /// is given (<see cref="SourceResolver"/>), else the one Ready image of that name in the store whatever source it
    /// came from (<see cref="NameMatcher"/>, exact names). Two sources with a Ready image of that name is an
    /// ImageNameAmbiguous error naming both. With none Ready, the one record of that name (the workflow then says
    /// why it is not Ready), else the default source.
    /// </summary>
    protected (string Source, string Image) FindInstalled(string image, string? source)
    {
        if (source is not null)
        {
            return (SourceResolver.Canonical(this, source), image);
        }

        var store = ExistingStore();
        IReadOnlyList<Image> records = store is null ? [] : new ImageRepository(store).List();
        var (named, _) = new NameMatcher([image], wildcards: false).Select(records, i => i.Name);
        var ready = named.Where(i => i.State == ImageState.Ready).ToList();
        if (ready.Count > 1)
        {
            throw new FlyException(ErrorIds.ImageNameAmbiguous, FlyErrorCategory.InvalidArgument,
                $"Images named '{image}' are installed from {string.Join(" and ", ready.Select(i => $"'{i.Source}'"))}: say which with -Source.", image)
            {
                RecommendedAction = $"Add -Source {ready[0].Source} (or another of them).",
            };
        }

        var chosen = ready.Count == 1 ? ready[0] : named.Count == 1 ? named[0] : null;
        return chosen is null ? (SourceResolver.Canonical(this, null), image) : (chosen.Source, chosen.Name);
    }

    /// <summary>Snapshots as recorded (no pool needed), without those already removed.</summary>
    protected IReadOnlyList<ThinSnapshot> ListSnapshots()
    {
        var existing = ExistingStore();
        return existing is null ? [] : new SnapshotRepository(existing).List().Where(s => s.State != SnapshotState.Removed).ToList();
    }
}
