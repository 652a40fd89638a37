using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Lifecycle;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Keeps the host within its disk: removes unused images, least recently used first, while a thin pool or the store's filesystem is too full, and collects orphans.</para>
/// <para type="description">When pool data use, pool metadata use or the store's filesystem use is above -HighPercent, images
/// without snapshots and without an install in progress are removed (as Remove-FlyImage removes them: same leases, same
/// journal, same crash safety), least recently used first (an install or a snapshot is a use; images never used go first),
/// until every figure is below -LowPercent. An image used within -MinimumAge is never removed; with -MaximumAge, every
/// unused image not used for longer goes whatever the use. If use is still at or above -LowPercent once every image that may
/// go is gone, the result's Shortfall says why and the error StoreOverLimit is written: never silence.</para>
/// <para type="description">Orphans go too, each reported as a warning and in the result: chain and snapshot devices in a pool that no
/// record explains, partial downloads untouched for 24 hours, blob files no record points to, and blobs no image references
/// (such as those Remove-FlyImage -KeepBlobs kept). Blobs and partial downloads are only collected while no fetch or install runs.
/// -WhatIf lists, without changing anything, the images that would go in order, the chains and bytes they would free and
/// the orphans found. The journal is pruned too: events older than -JournalRetention (30 days) or beyond -JournalEventsPerImage
/// (1000) per image go, and the database is compacted (VACUUM) when 10,000 or more went. Outputs one FlyImages.Lifecycle.CollectionResult. Asks for confirmation (ConfirmImpact High) unless -Force.</para>
/// </summary>
/// <example>
/// <code>Limit-FlyImageStore -WhatIf</code>
/// <para>Shows the figures, whether any is above 85 %, which unused images would be removed (least recently used first) and what they would free; nothing changes.</para>
/// </example>
/// <example>
/// <code>Limit-FlyImageStore -HighPercent 70 -LowPercent 60 -MaximumAge 30.00:00:00 -Force</code>
/// <para>Removes images unused for 30 days, then, while any figure is above 70 %, more unused images until all are below 60 %; run it from a timer to keep a host within its disk.</para>
/// </example>
/// <seealso cref="RemoveFlyImageCommand"/>
/// <seealso cref="GetFlyThinPoolCommand"/>
/// <seealso cref="GetFlyImageEventCommand"/>
[Cmdlet(VerbsData.Limit, "FlyImageStore", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(CollectionResult))]
public sealed class LimitFlyImageStoreCommand : FlyCmdlet
{
    /// <summary>The use (percent, 1-100) of pool data, pool metadata or the store's filesystem above which unused images are removed. Default 85.</summary>
    [Parameter]
    [ValidateRange(1, 100)]
    public double HighPercent { get; set; } = 85;

    /// <summary>The use (percent, below -HighPercent) every figure must be under for removal to stop. Default 80.</summary>
    [Parameter]
    [ValidateRange(0.1, 100)]
    public double LowPercent { get; set; } = 80;

    /// <summary>Images used (installed or snapshotted) more recently than this are never removed. Default 2 minutes (00:02:00).</summary>
    [Parameter]
    public TimeSpan MinimumAge { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>When given, every unused image not used for longer than this is removed whatever the use (e.g. 30.00:00:00). Default: none.</summary>
    [Parameter]
    public TimeSpan? MaximumAge { get; set; }

    /// <summary>Journal events (Get-FlyImageEvent) older than this are pruned. Default 30 days (30.00:00:00).</summary>
    [Parameter]
    public TimeSpan JournalRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>At most this many journal events are kept per image (1 or more; the newest stay). Default 1000.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int JournalEventsPerImage { get; set; } = 1000;

    /// <summary>Collects without asking for confirmation (never overrides -WhatIf). Default: ask, as ConfirmImpact is High.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var store = ExistingStore();
        if (store is null)
        {
            WriteVerbose($"There is no store at '{ResolvedStorePath}': nothing to collect.");
            return;
        }

        var policy = new CollectionPolicy { HighPercent = HighPercent, LowPercent = LowPercent, MinimumAge = MinimumAge, MaximumAge = MaximumAge,
            JournalRetention = JournalRetention, JournalEventsPerImage = JournalEventsPerImage };
        try
        {
            policy.Validate();
        }
        catch (FlyException e)
        {
            ThrowFlyError(e);
        }

        var collector = new ImageCollector(store);
        var action = $"Remove unused images least recently used first while use is above {HighPercent}% (down to {LowPercent}%)"
            + (MaximumAge is { } max ? $" and those unused for more than {max}" : "") + $", collect orphans, and prune journal events older than {JournalRetention} or beyond {JournalEventsPerImage} per image";
        var whatIf = IsWhatIf();
        if (!whatIf && !ShouldProcessUnlessForced(Force, $"store '{store.RootPath}'", action))
        {
            return;
        }

        if (whatIf)
        {
            WriteCommandDetail($"What if: {action} in '{store.RootPath}'.");
        }

        TryPerItem(() =>
        {
            var result = RunCore(context => collector.CollectAsync(policy, context, whatIf));
            WriteObject(result);
            if (result.Shortfall is { } shortfall)
            {
                WriteFlyError(new FlyException(ErrorIds.StoreOverLimit, FlyErrorCategory.ResourceUnavailable, $"Use is still too high: {shortfall}.", store.RootPath)
                {
                    RecommendedAction = "Remove snapshots you no longer need (Get-FlyThinSnapshot | Remove-FlyThinSnapshot), or give the pool or the store more space.",
                }, store.RootPath);
            }

            foreach (var left in result.Left)
            {
                WriteWarning($"Not finished (the next run finishes it): {left}");
            }
        }, store.RootPath);
    }

    private bool IsWhatIf() => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) ? ((SwitchParameter)w).IsPresent
        : SessionState.PSVariable.GetValue("WhatIfPreference") is { } pref && LanguagePrimitives.IsTrue(pref);
}
