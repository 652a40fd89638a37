using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Install;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Lifecycle;

/// <summary>When a collection removes images (kubelet's image GC policy).</summary>
public sealed record CollectionPolicy
{
    /// <summary>Above this use (percent) of pool data, pool metadata or the store's filesystem, unused images are removed.</summary>
    public double HighPercent { get; init; } = 85;

    /// <summary>Removal stops once every figure is below this use (percent).</summary>
    public double LowPercent { get; init; } = 80;

    /// <summary>An image used (installed or snapshotted) more recently than this is never removed.</summary>
    public TimeSpan MinimumAge { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>When set, every unused image not used for longer than this is removed, whatever the use.</summary>
    public TimeSpan? MaximumAge { get; init; }

    /// <summary>Partial downloads not touched for this long are deleted (containerd's lease expiry is 24 h too).</summary>
    public TimeSpan StalePartialAge { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Journal events older than this are pruned (default 30 days).</summary>
    public TimeSpan JournalRetention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>At most this many journal events are kept per image (its install, chains and snapshots together); default 1000.</summary>
    public int JournalEventsPerImage { get; init; } = 1000;

    /// <summary>What the collection runs for (journaled with every removal).</summary>
    public string Trigger { get; init; } = "Limit-FlyImageStore";

    public void Validate()
    {
        if (!(LowPercent > 0 && LowPercent < HighPercent && HighPercent <= 100))
        {
            throw new FlyException(ErrorIds.CollectionPolicyInvalid, FlyErrorCategory.InvalidArgument,
                $"The thresholds must satisfy 0 < low ({LowPercent}) < high ({HighPercent}) <= 100.", null);
        }

        if (MinimumAge < TimeSpan.Zero || MaximumAge is { } max && max < MinimumAge)
        {
            throw new FlyException(ErrorIds.CollectionPolicyInvalid, FlyErrorCategory.InvalidArgument,
                $"The minimum age ({MinimumAge}) must be positive and not above the maximum age ({MaximumAge}).", null);
        }
    }
}

/// <summary>One figure a collection watches: pool data, pool metadata, or the store's filesystem.</summary>
public sealed record UsageFigure(string Resource, long UsedBytes, long TotalBytes)
{
    public double Percent => TotalBytes <= 0 ? 0 : Math.Round(100.0 * UsedBytes / TotalBytes, 1);

    public override string ToString() => $"{Resource} {Percent:0.#}% ({ByteSize.Format(UsedBytes)} of {ByteSize.Format(TotalBytes)})";
}

/// <summary>An image a collection may remove: no snapshot, no install running; oldest use first.</summary>
public sealed record CollectionCandidate(string Source, string Name, DateTimeOffset LastUsed, bool NeverUsed, ImageRemovalPlan Plan);

/// <summary>
/// Collection by policy (Limit-FlyImageStore): while pool data, pool metadata or the store's filesystem is above the high
/// threshold, unused images (no snapshot, no install running, not used within the minimum age) are removed least recently
/// used first, through <see cref="ImageRemoval"/> (same leases, same journal, same crash safety), until every figure is
/// below the low threshold; a shortfall is reported, never silent. Images unused for longer than the maximum age go
/// whatever the use. Orphans go too, each reported: chain and snapshot devices no record explains, partial downloads
/// nobody resumed, blob files no record points to.
/// </summary>
public sealed class ImageCollector(FlyStore store)
{
    public FlyStore Store { get; } = store;

    /// <summary>The figures a collection watches, now.</summary>
    public async Task<IReadOnlyList<UsageFigure>> MeasureAsync(IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var figures = new List<UsageFigure>();
        foreach (var record in new ThinPoolRepository(Store).ListPools())
        {
            try
            {
                var status = await new ThinPoolCatalog(Store).GetStatusAsync(record.Name, context).ConfigureAwait(false);
                if (status.Mode == ThinPoolMode.Unavailable)
                {
                    continue;
                }

                figures.Add(new UsageFigure($"pool '{record.Name}' data", status.DataUsedBytes, status.DataTotalBytes));
                if (status.MetadataTotalBytes > 0)
                {
                    figures.Add(new UsageFigure($"pool '{record.Name}' metadata", status.MetadataUsedBytes, status.MetadataTotalBytes));
                }
            }
            catch (FlyException e)
            {
                context.WriteWarning($"Pool '{record.Name}' cannot report its use, so the collection cannot watch it: {e.Message}");
            }
        }

        try
        {
            var drive = new DriveInfo(Store.RootPath);
            figures.Add(new UsageFigure("store filesystem", drive.TotalSize - drive.AvailableFreeSpace, drive.TotalSize));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            context.WriteWarning($"The store's filesystem cannot report its use: {e.Message}");
        }

        return figures;
    }

    /// <summary>Images a collection may remove, least recently used first (never used first), none used within the minimum age.</summary>
    public IReadOnlyList<CollectionCandidate> Candidates(CollectionPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var now = DateTimeOffset.UtcNow;
        var busy = new LeaseManager(Store).Live().Where(l => l.Key.Kind == WorkflowKinds.InstallImage).Select(l => l.Key.Key).ToHashSet(StringComparer.Ordinal);
        var rows = Store.Read((c, t) => c.Query(t, "SELECT source, name, last_used_at, updated_at, created_at FROM images;",
            r => (Source: r.GetString(0), Name: r.GetString(1), LastUsed: r.GetTimeOrNull(2), Updated: r.GetTimeOrNull(3), Created: r.GetTimeOrNull(4))));
        var removal = new ImageRemoval(Store);
        var candidates = new List<CollectionCandidate>();
        foreach (var row in rows)
        {
            var last = row.LastUsed ?? row.Updated ?? row.Created ?? DateTimeOffset.MinValue;
            if (now - last < policy.MinimumAge || busy.Contains(InstallWorkflow.KeyOf(row.Source, row.Name)))
            {
                continue;
            }

            if (removal.Plan(row.Source, row.Name) is { Snapshots.Count: 0 } plan)
            {
                candidates.Add(new CollectionCandidate(row.Source, row.Name, last, row.LastUsed is null, plan));
            }
        }

        return candidates.OrderByDescending(c => c.NeverUsed).ThenBy(c => c.LastUsed).ThenBy(c => c.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Runs one collection. With <paramref name="whatIf"/>, nothing changes: the result lists the candidates in the order they
    /// would go (all of them when a figure is above high; those older than the maximum age otherwise) and what they would free.
    /// </summary>
    public async Task<CollectionResult> CollectAsync(CollectionPolicy policy, IOperationContext context, bool whatIf = false)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(context);
        policy.Validate();
        var cancel = context.CancellationToken;
        var took = System.Diagnostics.Stopwatch.StartNew();
        var runId = Guid.NewGuid().ToString("N");
        var before = await MeasureAsync(context).ConfigureAwait(false);
        var over = before.Where(f => f.Percent > policy.HighPercent).ToList();
        var candidates = Candidates(policy);
        var now = DateTimeOffset.UtcNow;
        var expired = policy.MaximumAge is { } max ? candidates.Where(c => now - c.LastUsed > max).ToList() : [];
        var trigger = over.Count > 0
            ? $"{policy.Trigger}: {string.Join(", ", over)} above {policy.HighPercent}%"
            : expired.Count > 0 ? $"{policy.Trigger}: unused for more than {policy.MaximumAge}" : $"{policy.Trigger}: every figure at or below {policy.HighPercent}%";

        if (whatIf)
        {
            var would = expired.Concat(over.Count > 0 ? candidates : []).DistinctBy(c => (c.Source, c.Name)).ToList();
            return new CollectionResult
            {
                Trigger = trigger,
                WhatIf = true,
                Before = [.. before.Select(f => f.ToString())],
                After = [],
                Images = [.. would.Select(c => c.Name)],
                StoreBytes = would.SelectMany(c => c.Plan.Blobs).DistinctBy(b => b.Digest).Sum(b => b.Size),
                Chains = would.Sum(c => c.Plan.Chains.Count),
                Orphans = [.. Orphans.Find(Store, policy).Select(o => o.Description)],
            };
        }

        var removed = new List<ImageRemovalResult>();
        var incomplete = new List<string>();
        var removal = new ImageRemoval(Store);
        async Task RemoveOneAsync(CollectionCandidate candidate, string why, string cause)
        {
            try
            {
                var result = await removal.RemoveAsync(candidate.Source, candidate.Name, new ImageRemovalOptions { Trigger = why, Cause = cause }, context).ConfigureAwait(false);
                removed.Add(result);
                incomplete.AddRange(result.Left);
                context.WriteVerbose($"Collected '{candidate.Name}' (last used {candidate.LastUsed:u}): {result}.");
            }
            catch (FlyException e) when (e.ErrorId is ErrorIds.ImageNotFound or ErrorIds.ImageHasSnapshots)
            {
                context.WriteVerbose($"Skipped '{candidate.Name}': {e.Message}");
            }
        }

        foreach (var candidate in expired)
        {
            cancel.ThrowIfCancellationRequested();
            await RemoveOneAsync(candidate, $"{policy.Trigger}: unused since {candidate.LastUsed:u}, more than {policy.MaximumAge}", LifecycleTriggers.MaxAge).ConfigureAwait(false);
        }

        var figures = await MeasureAsync(context).ConfigureAwait(false);
        if (over.Count > 0)
        {
            foreach (var candidate in candidates.Where(c => !removed.Any(r => r.Source == c.Source && r.Image == c.Name)))
            {
                if (figures.All(f => f.Percent < policy.LowPercent))
                {
                    break;
                }

                cancel.ThrowIfCancellationRequested();
                await RemoveOneAsync(candidate, trigger, LifecycleTriggers.HighUse).ConfigureAwait(false);
                figures = await MeasureAsync(context).ConfigureAwait(false);
            }
        }

        var orphans = await Orphans.CollectAsync(Store, policy, context, runId).ConfigureAwait(false);
        var pruned = JournalRetention.Prune(Store, policy);
        if (pruned > 0)
        {
            context.WriteVerbose($"Pruned {pruned} journal event(s) older than {policy.JournalRetention} or beyond {policy.JournalEventsPerImage} per image.");
        }

        var still = over.Count > 0 ? figures.Where(f => f.Percent >= policy.LowPercent).ToList() : [];
        var collected = new CollectionResult
        {
            Trigger = trigger,
            Before = [.. before.Select(f => f.ToString())],
            After = [.. figures.Select(f => f.ToString())],
            Images = [.. removed.Select(r => r.Image)],
            Removed = [.. removed],
            Chains = removed.Sum(r => r.Chains.Length),
            PoolBytes = removed.Sum(r => r.PoolBytes) + orphans.Sum(o => o.PoolBytes),
            StoreBytes = removed.Sum(r => r.StoreBytes) + orphans.Sum(o => o.StoreBytes),
            Orphans = [.. orphans.Select(o => o.Description)],
            Shortfall = still.Count == 0 ? null
                : $"{string.Join(", ", still)} still at or above {policy.LowPercent}% after removing every image that may go ({removed.Count}); the rest have snapshots, are installing, or were used within {policy.MinimumAge}",
            Left = [.. incomplete],
            JournalEventsPruned = pruned,
        };
        var cause = over.Count > 0 ? LifecycleTriggers.HighUse : expired.Count > 0 ? LifecycleTriggers.MaxAge : LifecycleTriggers.Collection;
        LifecycleJournal.Collected(Store, runId, cause, collected, took.Elapsed);
        return collected;
    }
}
