using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Install;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Removes a thin pool: every device in it, the pool itself (its files, and its own filesystem
/// if it has one), and the store's claim that images in it are installed.</para>
/// <para type="description">Images whose layer chains were in the pool are no longer installed afterwards (their
/// blobs stay in the content store, so the next Install-FlyImage downloads nothing). Refused while the pool
/// holds snapshots (remove them first) or while another process installs or snapshots in the store. An
/// adopted devicemapper pool is left in place; only FlyImages' devices are deleted from it. Asks for
/// confirmation (ConfirmImpact High) unless -Force or -Confirm:$false.</para>
/// </summary>
/// <example><code>Get-FlyThinSnapshot | Remove-FlyThinSnapshot -Force; Remove-FlyThinPool flyimages -Force</code></example>
/// <example><code>Get-FlyThinPool old* | Remove-FlyThinPool -WhatIf</code></example>
[Cmdlet(VerbsCommon.Remove, "FlyThinPool", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
public sealed class RemoveFlyThinPoolCommand : FlyCmdlet
{
    /// <summary>Names of the pools to remove (no wildcards: say exactly which).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>Remove without asking (never overrides -WhatIf).</summary>
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
        var recorded = new NameMatcher([name], wildcards: false).Select(ThinPools.ThinPoolManager.List(store), p => p.Name).Matched;
        var plan = PoolRemoval.Plan(store, recorded.Count == 1 ? recorded[0].Name : name);
        if (!ShouldProcessUnlessForced(Force, $"thin pool '{plan.Pool.Name}'", plan.Describe()))
        {
            return;
        }

        RunCore(context => PoolRemoval.RemoveAsync(store, plan, context));
    }
}
