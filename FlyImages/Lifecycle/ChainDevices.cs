using FlyImages.Engine;
using FlyImages.Install;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Lifecycle;

/// <summary>
/// Finds and deletes the devices of layer chains whatever pool they are in (the store records a chain's
/// device by name; the pool that holds it is found from the pools' device records). Pools are opened
/// once per instance. Also the compensations recovery needs to finish a removal that stopped half-way.
/// </summary>
public sealed class ChainDevices(FlyStore store, IOperationContext context)
{
    private readonly Dictionary<string, IThinPool> opened = new(StringComparer.Ordinal);
    private readonly ThinPoolRepository pools = new(store);
    private readonly ThinPoolCatalog catalog = new(store);

    /// <summary>Where the pools report (warnings, verbose lines).</summary>
    public IOperationContext Context => context;

    /// <summary>The name of the pool that records <paramref name="device"/>, or null.</summary>
    public string? PoolOf(string device) => pools.ListPools().FirstOrDefault(p => pools.FindDevice(p.Name, device) is not null)?.Name;

    /// <summary>The pool named <paramref name="name"/>, opened once.</summary>
    public async Task<IThinPool> OpenAsync(string name)
    {
        if (!opened.TryGetValue(name, out var pool))
        {
            opened[name] = pool = await catalog.OpenAsync(name, context).ConfigureAwait(false);
        }

        return pool;
    }

    /// <summary>Deletes <paramref name="device"/> from whichever pool has it (discarding its blocks first); nothing to do when none has it.</summary>
    public async Task DeleteAsync(string device, CancellationToken cancellationToken)
    {
        if (PoolOf(device) is not { } name)
        {
            return;
        }

        var pool = await OpenAsync(name).ConfigureAwait(false);
        await pool.DeleteIfPresentAsync(device, context.WithCancellation(cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Data bytes in use per pool (for what a removal freed); pools that cannot say are left out.</summary>
    public async Task<IReadOnlyDictionary<string, long>> DataUsedAsync(CancellationToken cancellationToken)
    {
        var used = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var record in pools.ListPools())
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var status = await catalog.GetStatusAsync(record.Name, context).ConfigureAwait(false);
                if (status.Mode != ThinPoolMode.Unavailable)
                {
                    used[record.Name] = status.DataUsedBytes;
                }
            }
            catch (Errors.FlyException e)
            {
                context.WriteVerbose($"Pool '{record.Name}' cannot report its use: {e.Message}");
            }
        }

        return used;
    }

    /// <summary>
    /// Recovery's compensations: a chain caught Creating, Applying or Deleting by a run that is gone has its device
    /// deleted from whichever pool holds it.
    /// </summary>
    public CompensationRegistry Compensations() => CompensationRegistry.ForChains((workflow, cancellationToken)
        => DeleteAsync(new LayerChainRepository(store).Find(workflow.Key)?.Device ?? DeviceNames.Chain(workflow.Key), cancellationToken));
}
