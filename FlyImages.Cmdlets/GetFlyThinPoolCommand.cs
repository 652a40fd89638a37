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
    /// <summary>Pool names; wildcards allowed. Default: all.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        IReadOnlyList<ThinPoolRecord> pools;
        FlyStore? store;
        try
        {
            store = FlyStore.OpenExisting(ResolvedStorePath);
            pools = store is null ? [] : ThinPoolManager.List(store);
        }
        catch (Exception e) when (e is FlyException or IOException or UnauthorizedAccessException)
        {
            ThrowFlyError(e, StorePath);
            return;
        }

        var patterns = (Name ?? ["*"]).Select(n => (Text: n, Pattern: WildcardPattern.Get(n, WildcardOptions.IgnoreCase), Wild: WildcardPattern.ContainsWildcardCharacters(n))).ToList();
        var found = new bool[patterns.Count];
        foreach (var pool in pools)
        {
            var match = false;
            for (var i = 0; i < patterns.Count; i++)
            {
                if (patterns[i].Pattern.IsMatch(pool.Name))
                {
                    found[i] = match = true;
                }
            }

            if (match)
            {
                TryPerItem(() =>
                {
                    var status = RunCore(context => ThinPoolManager.GetStatusAsync(store!, pool.Name, context));
                    if (Lifecycle.PoolUseWarnings.For(status) is { } warning)
                    {
                        WriteWarning(warning);
                    }

                    WriteObject(status);
                }, pool.Name);
            }
        }

        for (var i = 0; i < patterns.Count; i++)
        {
            if (!found[i] && !patterns[i].Wild)
            {
                WriteFlyError(new FlyException(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound,
                    $"The store '{ResolvedStorePath}' records no thin pool named '{patterns[i].Text}'.", patterns[i].Text)
                {
                    RecommendedAction = "Run Initialize-FlyThinPool first.",
                }, patterns[i].Text);
            }
        }
    }
}
