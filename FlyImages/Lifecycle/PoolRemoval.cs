using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;
using Microsoft.Data.Sqlite;
using Stateless;

namespace FlyImages.Lifecycle;

/// <summary>What removing a pool takes with it (see <see cref="PoolRemoval"/>).</summary>
/// <param name="Pool">The pool.</param>
/// <param name="Devices">How many devices the pool holds.</param>
/// <param name="Chains">The layer chains whose devices are in the pool.</param>
/// <param name="Images">Images (source, name) that use those chains: they are installed again by the next install.</param>
/// <param name="Snapshots">Snapshots still in the pool: while there are any, the pool is not removed.</param>
public sealed record PoolRemovalPlan(ThinPoolRecord Pool, int Devices, IReadOnlyList<LayerChain> Chains, IReadOnlyList<(string Source, string Name)> Images, IReadOnlyList<ThinSnapshot> Snapshots)
{
    /// <summary>The ShouldProcess action text.</summary>
    public string Describe() => $"Delete its {Devices} device(s) ({Chains.Count} layer chain(s) of {Images.Count} installed image(s), which the next Install-FlyImage installs again) "
        + (Pool.Owned ? "and remove the pool and its files" : "and forget the adopted pool");
}

/// <summary>
/// Removes a thin pool and everything the store says lives in it. The records go first, in one
/// transaction, under the leases of every image and chain concerned: chains whose devices are in the
/// pool go back to Pending without a device, and the images that use them back to Pending (their blobs
/// stay), each with a journal entry. Then the devices and the pool go. A crash in between leaves devices
/// no record points to, which the next install of their chain deletes first; never a Ready image
/// without its devices. Snapshots in the pool, or work in progress on the store, refuse the removal.
/// </summary>
public static class PoolRemoval
{
    /// <summary>What removing <paramref name="poolName"/> would do, read from the store (nothing changes).</summary>
    public static PoolRemovalPlan Plan(FlyStore store, string poolName)
    {
        ArgumentNullException.ThrowIfNull(store);
        var name = ThinPoolNames.ValidatePool(poolName);
        var pools = new ThinPoolRepository(store);
        var pool = pools.FindPool(name) ?? throw ThinPoolCatalog.NotFound(store.RootPath, name);
        var devices = pools.ListDevices(name).Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var chains = new LayerChainRepository(store).List().Where(c => c.Device is not null && devices.Contains(c.Device)).ToList();
        var chainIds = chains.Select(c => c.ChainId).ToHashSet(StringComparer.Ordinal);
        var images = new ImageRepository(store).UsingChains(chainIds);
        var snapshots = new SnapshotRepository(store).List()
            .Where(s => s.State != SnapshotState.Removed && ((s.Device is not null && devices.Contains(s.Device)) || chainIds.Contains(s.ChainId))).ToList();
        return new PoolRemovalPlan(pool, devices.Count, chains, images, snapshots);
    }

    /// <summary>
    /// Removes the pool of <paramref name="plan"/> (the caller asked ShouldProcess with <see cref="PoolRemovalPlan.Describe"/>).
    /// Throws ThinPoolInUse while snapshots are in the pool or another process works on the store.
    /// </summary>
    public static async Task RemoveAsync(FlyStore store, PoolRemovalPlan plan, IOperationContext context, ThinPoolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(context);
        var name = plan.Pool.Name;
        var leases = new LeaseManager(store);
        var held = new List<Lease>();
        try
        {
            foreach (var key in WorkflowKeys(plan))
            {
                held.Add(leases.TryAcquire(key, LeaseManager.DefaultTtl) ?? throw InUse(name, $"{key} is held by {leases.Owner(key)}"));
            }

            var others = leases.Live().Where(l => !held.Any(h => h.Key == l.Key)).ToList();
            if (others.Count > 0)
            {
                throw InUse(name, $"{others[0].Key} is held by {others[0].Owner}{(others.Count > 1 ? $" (and {others.Count - 1} more)" : "")}");
            }

            // what the store says now, under the leases
            var now = Plan(store, name);
            if (now.Snapshots.Count > 0)
            {
                throw new FlyException(ErrorIds.ThinPoolInUse, FlyErrorCategory.InvalidOperation,
                    $"Pool '{name}' still holds {now.Snapshots.Count} snapshot(s): {string.Join(", ", now.Snapshots.Take(5).Select(s => $"'{s.Name}' of '{s.Image}'"))}{(now.Snapshots.Count > 5 ? ", ..." : "")}.", name)
                {
                    RecommendedAction = "Remove them first: Get-FlyThinSnapshot | Remove-FlyThinSnapshot.",
                };
            }

            if (now.Chains.Any(c => !plan.Chains.Any(p => p.ChainId == c.ChainId)))
            {
                throw InUse(name, "layer chains were made in it since the removal was planned");
            }

            ForgetChains(store, now, context);
            await new ThinPoolCatalog(store, options).RemoveAsync(name, new ApprovingContext(context)).ConfigureAwait(false);
            context.WriteVerbose($"Pool '{name}' removed: {now.Devices} device(s) deleted; {now.Images.Count} image(s) are no longer installed.");
        }
        finally
        {
            foreach (var lease in held)
            {
                await lease.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Chains in the pool: Pending, no device; images using them: Pending (shown Fetched: blobs kept), each
    /// by the declared PoolRemoved trigger on its own new run, all in one transaction.
    /// </summary>
    private static void ForgetChains(FlyStore store, PoolRemovalPlan plan, IOperationContext context)
    {
        var detail = $"thin pool '{plan.Pool.Name}' was removed with its devices";
        store.Write((c, t) =>
        {
            foreach (var (kind, key) in WorkflowKeys(plan))
            {
                if (WorkflowRepository.Find(c, t, kind, key) is not { } workflow)
                {
                    continue;
                }

                WorkflowRepository.ClearSteps(c, t, workflow.Id); // completed steps name devices that are going
                if (kind == WorkflowKinds.InstallImage)
                {
                    FireIfPermitted<InstallState, InstallTrigger>(store, c, t, workflow, WorkflowMachines.ConfigureInstall, InstallTrigger.PoolRemoved, detail);
                }
                else
                {
                    FireIfPermitted<ChainState, ChainTrigger>(store, c, t, workflow, WorkflowMachines.ConfigureChain, ChainTrigger.PoolRemoved, detail);
                }
            }

            foreach (var chain in plan.Chains)
            {
                LayerChainRepository.SetDevice(c, t, chain.ChainId, null);
            }
        });
        foreach (var (_, imageName) in plan.Images)
        {
            context.WriteVerbose($"Image '{imageName}' is no longer installed: {detail}.");
        }
    }

    /// <summary>
    /// Fires <paramref name="trigger"/> on a new run of <paramref name="workflow"/> (so a run of the old one that is
    /// still about, which cannot hold the lease, can no longer write) where the graph permits it: not
    /// in Pending (nothing to forget) nor Rejected (still hostile).
    /// </summary>
    private static void FireIfPermitted<TState, TTrigger>(FlyStore store, SqliteConnection c, SqliteTransaction t,
        WorkflowRecord workflow, Action<StateMachine<TState, TTrigger>> configure, TTrigger trigger, string detail)
        where TState : struct, Enum
        where TTrigger : struct, Enum
    {
        if (new PersistedWorkflow<TState, TTrigger>(store, c, t, workflow, configure).CanFire(trigger))
        {
            var run = WorkflowRepository.BeginRun(c, t, workflow.Kind, workflow.Key, workflow.Subject, workflow.Source);
            new PersistedWorkflow<TState, TTrigger>(store, c, t, run, configure).Fire(trigger, detail);
        }
    }

    /// <summary>The workflows (and so the leases) the removal touches: each image's install, each chain's make-chain.</summary>
    private static IEnumerable<LeaseKey> WorkflowKeys(PoolRemovalPlan plan)
        => plan.Images.Select(i => new LeaseKey(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(i.Source, i.Name)))
            .Concat(plan.Chains.Select(c => new LeaseKey(WorkflowKinds.MakeChain, c.ChainId)));

    private static FlyException InUse(string pool, string why) => new(ErrorIds.ThinPoolInUse, FlyErrorCategory.ResourceBusy,
        $"Pool '{pool}' is in use: {why}; nothing was removed.", pool)
    {
        RecommendedAction = "Wait for the installs and snapshots in progress to finish, then try again.",
    };
}
