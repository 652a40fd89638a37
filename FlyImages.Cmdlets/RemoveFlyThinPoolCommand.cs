using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Install;
using FlyImages.Lifecycle;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Removes a thin pool: every device in it, the pool itself (its files, and its own filesystem
/// if it has one), and the store's claim that images in it are installed.</para>
/// <para type="description">Images whose layer chains were in the pool are no longer installed afterwards: in one
/// transaction the store sends those chains back to Pending and those images back to Fetched, each journaled
/// (PoolRemoved). Their blobs stay in the content store, so the next Install-FlyImage downloads nothing. An adopted
/// devicemapper pool is left in place; only FlyImages' devices are deleted from it.</para>
/// <para type="description">Refused with ThinPoolInUse while the pool holds snapshots (remove them first) or while
/// another process installs or snapshots in the store. A name that is not a pool of the store is
/// ThinPoolNotFound. Asks for confirmation (ConfirmImpact High) unless -Force or -Confirm:$false; -WhatIf says what
/// would be removed.</para>
/// </summary>
/// <example>
/// <code>Get-FlyThinSnapshot | Remove-FlyThinSnapshot -Force; Remove-FlyThinPool flyimages -Force</code>
/// <para>Removes every snapshot, then the default pool, without asking.</para>
/// </example>
/// <example>
/// <code>Get-FlyThinPool old* | Remove-FlyThinPool -WhatIf</code>
/// <para>Pools bind by property name (Name): shows what removing each pool whose name starts with 'old' would do, and
/// removes nothing.</para>
/// </example>
/// <seealso cref="GetFlyThinPoolCommand"/>
/// <seealso cref="InitializeFlyThinPoolCommand"/>
/// <seealso cref="RemoveFlyThinSnapshotCommand"/>
[Cmdlet(VerbsCommon.Remove, "FlyThinPool", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
public sealed class RemoveFlyThinPoolCommand : FlyCmdlet
{
    /// <summary>
    /// Names of the pools to remove, exactly (no wildcards: say which). Binds from the pipeline: strings, or objects
    /// with a Name property such as Get-FlyThinPool's.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>Remove without asking for confirmation. Never overrides -WhatIf.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            TryPerItem(() => Remove(name), name);
        }
    }

    private void Remove(string name)
    {
        var store = ExistingStore() ?? throw new FlyException(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound,
            $"There is no store at '{ResolvedStorePath}', so no thin pool named '{name}'.", name);
        // the name as recorded (exact names, the same case rules as every other cmdlet)
        var recorded = new NameMatcher([name], wildcards: false).Select(new ThinPools.ThinPoolCatalog(store).List(), p => p.Name).Matched;
        var plan = PoolRemoval.Plan(store, recorded.Count == 1 ? recorded[0].Name : name);
        if (!ShouldProcessUnlessForced(Force, $"thin pool '{plan.Pool.Name}'", plan.Describe()))
        {
            return;
        }

        RunCore(context => PoolRemoval.RemoveAsync(store, plan, context));
    }
}
