using FlyImages.Install;
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

    /// <summary>Snapshots as recorded (no pool needed), without those already removed.</summary>
    protected IReadOnlyList<ThinSnapshot> ListSnapshots()
    {
        var existing = ExistingStore();
        return existing is null ? [] : new SnapshotWorkflow(existing, NoSteps.Instance).List().Where(s => s.State != SnapshotState.Removed).ToList();
    }

    private sealed class NoSteps : ISnapshotSteps
    {
        public static NoSteps Instance { get; } = new();

        public Task<string> ActivateAsync(SnapshotPlan plan, string device, StepContext context) => throw new InvalidOperationException();

        public Task<string> CreateSnapshotAsync(SnapshotPlan plan, StepContext context) => throw new InvalidOperationException();

        public Task RemoveAsync(SnapshotPlan plan, string? device, StepContext context) => throw new InvalidOperationException();
    }
}
