using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.State;
using FlyImages.ThinPools;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Shows the store's thin pools: backend, mode, data and metadata use, devices.</para>
/// <para type="description">Writes a ThinPoolStatus for each pool the store records: name, backend (DeviceMapper or
/// BlockFile), where it keeps its devices (dm-thin, own XFS, folder), data and metadata used and total with
/// percentages, mode (rw, ro, out_of_data_space, needs_check, failed), device count and host.</para>
/// <para type="description">Reads only: nothing is re-attached or reconciled, and no store is created. A pool that is not
/// present (after a reboot, before Initialize-FlyThinPool) is shown with mode Unavailable. A -Name without wildcards
/// that matches no pool writes a non-terminating ThinPoolNotFound error.</para>
/// </summary>
/// <example>
/// <code>Get-FlyThinPool</code>
/// <para>Every pool of the default store, as a table.</para>
/// </example>
/// <example>
/// <code>Get-FlyThinPool | Where-Object DataUsedPercent -gt 80</code>
/// <para>The pools more than 80% full; new devices are refused below the free-space floor (ThinPoolBelowFloor).</para>
/// </example>
/// <example>
/// <code>Get-FlyThinPool fly* -StorePath /srv/flyimages | Format-List *</code>
/// <para>Every figure of the pools whose names start with 'fly', in another store.</para>
/// </example>
/// <seealso cref="InitializeFlyThinPoolCommand"/>
/// <seealso cref="RemoveFlyThinPoolCommand"/>
[Cmdlet(VerbsCommon.Get, "FlyThinPool")]
[OutputType(typeof(ThinPoolStatus))]
public sealed class GetFlyThinPoolCommand : FlyCmdlet
{
    private readonly HashSet<string> written = new(StringComparer.Ordinal);

    /// <summary>
    /// Pool names; wildcards allowed, case-insensitive. Default: every pool. A name without wildcards that matches no
    /// pool is a non-terminating ThinPoolNotFound error. Binds from the pipeline: strings, or objects with a Name
    /// property.
    /// </summary>
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
            TryPerItem(() =>
            {
                var status = RunCore(context => catalog!.GetStatusAsync(pool.Name, context));
                if (Lifecycle.PoolUseWarnings.For(status) is { } warning)
                {
                    WriteWarning(warning);
                }

                WriteObject(status);
            }, pool.Name);
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
