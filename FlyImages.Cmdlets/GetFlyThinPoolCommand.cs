using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.State;
using FlyImages.ThinPools;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Shows the store's thin pools: backend, mode, data and metadata use, devices.</para>
/// <para type="description">Reads only: nothing is re-attached or reconciled. A pool that is not present (after a
/// reboot, before Initialize-FlyThinPool) is shown with mode Unavailable.</para>
/// </summary>
/// <example><code>Get-FlyThinPool</code></example>
/// <example><code>Get-FlyThinPool | Where-Object DataUsedPercent -gt 80</code></example>
[Cmdlet(VerbsCommon.Get, "FlyThinPool")]
[OutputType(typeof(ThinPoolStatus))]
public sealed class GetFlyThinPoolCommand : FlyCmdlet
{
    private readonly HashSet<string> written = new(StringComparer.Ordinal);

    /// <summary>Pool names; wildcards allowed. Default: all.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        IReadOnlyList<ThinPoolRecord> pools;
        ThinPoolCatalog? catalog;
        try
        {
            var store = FlyStore.OpenExisting(ResolvedStorePath);
            catalog = store is null ? null : new ThinPoolCatalog(store);
            pools = catalog is null ? [] : catalog.List();
        }
        catch (Exception e) when (e is FlyException or IOException or UnauthorizedAccessException)
        {
            ThrowFlyError(e, StorePath);
            return;
        }

        var (matched, missing) = new NameMatcher(Name).Select(pools, p => p.Name);
        foreach (var pool in matched.Where(p => written.Add(p.Name)))
        {
            TryPerItem(() => WriteObject(RunCore(context => catalog!.GetStatusAsync(pool.Name, context))), pool.Name);
        }

        foreach (var name in missing)
        {
            WriteFlyError(new FlyException(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound,
                $"The store '{ResolvedStorePath}' records no thin pool named '{name}'.", name)
            {
                RecommendedAction = "Run Initialize-FlyThinPool first.",
            }, name);
        }
    }
}
