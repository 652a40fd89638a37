using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Install;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;
using Microsoft.Data.Sqlite;

namespace FlyImages.Lifecycle;

/// <summary>How a removal goes.</summary>
public sealed record ImageRemovalOptions
{
    /// <summary>Keep the image's blobs in the content store (the next install downloads nothing).</summary>
    public bool KeepBlobs { get; init; }

    /// <summary>Remove the image's thin snapshots first; without it an image with snapshots is refused (ImageHasSnapshots).</summary>
    public bool RemoveSnapshots { get; init; }

    /// <summary>What removes the image, journaled with every transition (Remove-FlyImage, or a collection and why).</summary>
    public string Trigger { get; init; } = "Remove-FlyImage";

    /// <summary>The trigger of the removal's lifecycle journal entry (one of <see cref="LifecycleTriggers"/>).</summary>
    public string Cause { get; init; } = LifecycleTriggers.Remove;

    /// <summary>How long the exclusive content lock is waited for before blobs are left for a later run.</summary>
    public TimeSpan ContentLockWait { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan LeaseTtl { get; init; } = LeaseManager.DefaultTtl;

    /// <summary>Told after each durable step ("intent", "blob", "chain"): the crash tests kill a process after the n-th.</summary>
    public Action<string>? OnStep { get; init; }
}

/// <summary>What removing an image would do, read from the store (nothing changes).</summary>
/// <param name="Image">The image as recorded.</param>
/// <param name="Snapshots">Its snapshots (not Removed): the removal is refused while there are any, unless they go too.</param>
/// <param name="Chains">Its layer chains that nothing else uses: their devices go.</param>
/// <param name="ChainsKept">Its layer chains another image or a snapshot uses: they stay.</param>
/// <param name="Blobs">Its blobs that no other image references (digest, bytes).</param>
public sealed record ImageRemovalPlan(Image Image, IReadOnlyList<ThinSnapshot> Snapshots, IReadOnlyList<string> Chains, IReadOnlyList<string> ChainsKept,
    IReadOnlyList<(string Digest, long Size)> Blobs)
{
    /// <summary>The ShouldProcess action text.</summary>
    public string Describe(ImageRemovalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var text = $"Forget the image ({Image.State}), delete {Chains.Count} layer chain device(s) (keeping {ChainsKept.Count} still in use)";
        text += options.KeepBlobs ? " and keep its blobs" : $" and {Blobs.Count} blob(s) ({ByteSize.Format(Blobs.Sum(b => b.Size))})";
        return Snapshots.Count == 0 ? text : text + $", after removing its {Snapshots.Count} snapshot(s): {string.Join(", ", Snapshots.Select(s => s.Name))}";
    }
}

/// <summary>
/// Removes installed images. Under the image's install lease and the leases of its layer chains (the order an
/// install takes them), ONE transaction records the intent: the install machine fires Remove (the image, its
/// layers and its chain uses are forgotten), every chain no remaining image or snapshot uses fires Delete
/// (Deleting, its device still named), and the blobs no remaining image references lose their records. Then
/// the blob files and the chain devices go, each chain firing Deleted. A crash or failure in between leaves
/// only Deleting chains and blob files no record points to: recovery (the next removal, collection or
/// install) deletes those devices, and the next removal or collection those files. An install that needs a
/// Deleting chain waits for its lease, finishes the deletion and makes the chain again.
/// </summary>
public sealed class ImageRemoval(FlyStore store)
{
    private readonly WorkflowRepository workflows = new(store);

    public FlyStore Store { get; } = store;

    /// <summary>What removing image <paramref name="name"/> of <paramref name="source"/> would do; null when the store does not record it.</summary>
    public ImageRemovalPlan? Plan(string source, string name)
    {
        var image = new ImageRepository(Store).Find(source, name);
        if (image is null)
        {
            return null;
        }

        var snapshots = Snapshots(source, name);
        return Store.Read((c, t) =>
        {
            if (ImageRepository.IdOf(c, t, source, name) is not { } id)
            {
                return null; // removed meanwhile
            }

            var chains = ChainsOf(c, t, id);
            var unused = chains.Where(chain => !InUse(c, t, chain, id, source, name)).ToList();
            return new ImageRemovalPlan(image, snapshots, unused, chains.Except(unused).ToList(), UnreferencedBlobs(c, t, id));
        });
    }

    /// <summary>
    /// Finishes what removals and installs that stopped half-way left (chains Deleting, Creating or Applying
    /// with no live owner), in whichever pool their devices are.
    /// </summary>
    public async Task<IReadOnlyList<RecoveredWorkflow>> FinishLeftoversAsync(ChainDevices devices, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(context);
        var recovered = await new WorkflowRecovery(Store, devices.Compensations()).RecoverAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var r in recovered)
        {
            context.WriteVerbose($"Finished {r.Kind} '{r.Subject}' left {r.State}: {r.Outcome} ({r.Detail}).");
        }

        return recovered;
    }

    /// <summary>
    /// Removes image <paramref name="name"/> of <paramref name="source"/> (the caller asked ShouldProcess with the plan). A removal
    /// that could not finish returns what it freed with <see cref="ImageRemovalResult.Left"/> saying what is left
    /// (see <see cref="Incomplete"/>); the next run finishes it.
    /// </summary>
    public async Task<ImageRemovalResult> RemoveAsync(string source, string name, ImageRemovalOptions options, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(context);
        var cancel = context.CancellationToken;
        var took = System.Diagnostics.Stopwatch.StartNew();
        var devices = new ChainDevices(Store, context);
        await FinishLeftoversAsync(devices, context).ConfigureAwait(false);
        var fromState = new ImageRepository(Store).Find(source, name)?.State.ToString() ?? throw NotFound(source, name);

        var removedSnapshots = await RemoveSnapshotsAsync(source, name, options, devices, context).ConfigureAwait(false);

        var key = InstallWorkflow.KeyOf(source, name);
        var leases = new LeaseManager(Store);
        await using var imageLease = await leases.AcquireAsync(new LeaseKey(WorkflowKinds.InstallImage, key), options.LeaseTtl, cancel,
            owner => context.WriteVerbose($"Waiting for {owner} to finish with '{name}' before removing it.")).ConfigureAwait(false);
        var chainIds = Store.Read((c, t) => ImageRepository.IdOf(c, t, source, name) is { } id ? ChainsOf(c, t, id) : []);
        var held = new List<Lease>();
        ContentGuard? guard = null;
        WorkflowRecord? forgotten = null;
        try
        {
            foreach (var chainId in chainIds.Order(StringComparer.Ordinal))
            {
                held.Add(await leases.AcquireAsync(new LeaseKey(WorkflowKinds.MakeChain, chainId), options.LeaseTtl, cancel,
                    owner => context.WriteVerbose($"Waiting for {owner} to finish with layer chain {chainId}.")).ConfigureAwait(false));
            }

            var installRun = workflows.BeginRun(WorkflowKinds.InstallImage, key, name, source);
            var chainRuns = chainIds.ToDictionary(id => id, id => workflows.BeginRun(WorkflowKinds.MakeChain, id, name, source), StringComparer.Ordinal);
            if (!options.KeepBlobs)
            {
                guard = await ContentGuard.TryExclusiveAsync(Store.RootPath, options.ContentLockWait, cancel).ConfigureAwait(false);
            }

            var intent = Store.Write((c, t) => RecordIntent(c, t, installRun, chainRuns, options, guard is not null));
            forgotten = installRun;
            options.OnStep?.Invoke("intent");
            context.WriteVerbose($"Image '{name}' forgotten: {intent.Chains.Count} layer chain(s) marked Deleting, {intent.Blobs.Count} blob record(s) deleted.");

            var left = new List<string>(intent.Left);
            var storeBytes = DeleteBlobFiles(intent.Blobs.Select(b => b.Digest).Concat(intent.Orphans), options, context);
            guard?.Dispose();
            guard = null;

            var before = await devices.DataUsedAsync(cancel).ConfigureAwait(false);
            var deleted = new List<string>();
            foreach (var (chainId, device) in intent.Chains)
            {
                try
                {
                    await devices.DeleteAsync(device ?? DeviceNames.Chain(chainId), cancel).ConfigureAwait(false);
                    new PersistedWorkflow<ChainState, ChainTrigger>(Store, chainRuns[chainId], WorkflowMachines.ConfigureChain)
                        .Fire(ChainTrigger.Deleted, $"device {device ?? "(none)"} deleted ({options.Trigger})",
                            alsoWrite: (c, t) => LayerChainRepository.SetDevice(c, t, chainId, null));
                    deleted.Add(chainId);
                    options.OnStep?.Invoke("chain");
                }
                catch (Exception e) when (e is not OperationCanceledException && e is FlyException or IOException)
                {
                    left.Add($"layer chain {chainId} is still Deleting ({e.Message}); the next Remove-FlyImage, Limit-FlyImageStore or Install-FlyImage deletes its device");
                }
            }

            var after = await devices.DataUsedAsync(cancel).ConfigureAwait(false);
            var poolBytes = before.Sum(p => Math.Max(0, p.Value - after.GetValueOrDefault(p.Key, p.Value)));
            var result = new ImageRemovalResult
            {
                Image = name,
                Source = source,
                Trigger = options.Trigger,
                Snapshots = [.. removedSnapshots],
                Chains = [.. deleted],
                ChainsKept = [.. intent.Kept],
                Blobs = [.. intent.Blobs.Select(b => b.Digest)],
                PoolBytes = poolBytes,
                StoreBytes = storeBytes,
                Left = [.. left],
            };
            LifecycleJournal.Removed(Store, result, key, installRun.RunId, options.Cause, fromState, took.Elapsed);
            return result;
        }
        catch (Exception e) when (forgotten is not null)
        {
            LifecycleJournal.RemovalFailed(Store, source, name, key, forgotten.RunId, options.Cause, options.Trigger, fromState, e, took.Elapsed);
            throw;
        }
        finally
        {
            guard?.Dispose();
            foreach (var lease in held)
            {
                await lease.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The one intent transaction (see the class summary). The caller holds every lease concerned.</summary>
    private Intent RecordIntent(SqliteConnection c, SqliteTransaction t, WorkflowRecord installRun, IReadOnlyDictionary<string, WorkflowRecord> chainRuns,
        ImageRemovalOptions options, bool contentLocked)
    {
        var source = installRun.Source!;
        var name = installRun.Subject;
        var id = ImageRepository.IdOf(c, t, source, name) ?? throw NotFound(source, name);
        var snapshots = SnapshotRepository.PresentOf(c, t, source, name).Select(s => s.Name).ToList();
        if (snapshots.Count > 0)
        {
            throw HasSnapshots(name, snapshots);
        }

        var blobs = UnreferencedBlobs(c, t, id);
        c.Exec(t, "DELETE FROM images WHERE id = $id;", ("$id", id)); // its layers and chain uses go with it
        WorkflowRepository.ClearSteps(c, t, installRun.Id); // completed steps name blobs and devices that are going

        var left = new List<string>();
        var kept = new List<string>();
        var doomed = new List<(string ChainId, string? Device)>();
        foreach (var (chainId, run) in chainRuns)
        {
            var state = Enum.TryParse<ChainState>(c.Scalar<string>(t, "SELECT state FROM workflows WHERE id = $id;", ("$id", run.Id)), out var s) ? s : ChainState.Faulty;
            if (InUse(c, t, chainId, id, source, name))
            {
                kept.Add(chainId);
            }
            else if (state is ChainState.Sealed or ChainState.Pending or ChainState.Faulty or ChainState.Deleting)
            {
                doomed.Add((chainId, LayerChainRepository.Find(c, t, chainId)?.Device));
            }
            else
            {
                kept.Add(chainId);
                left.Add($"layer chain {chainId} is {state}, not deleted");
            }
        }

        var orphans = new List<string>();
        if (!options.KeepBlobs && blobs.Count > 0)
        {
            var busy = contentLocked ? OtherInstallRunning(c, t, installRun.Key) : "blobs are being fetched";
            if (busy is null)
            {
                foreach (var (digest, _) in blobs)
                {
                    c.Exec(t, "DELETE FROM blobs WHERE digest = $d;", ("$d", digest)); // its source objects go with it
                }

                orphans.AddRange(OrphanBlobFiles(c, t));
            }
            else
            {
                left.Add($"{blobs.Count} blob(s) kept because {busy}; Limit-FlyImageStore deletes blobs no image references");
                blobs = [];
            }
        }
        else
        {
            blobs = [];
        }

        var who = ProcessIdentity.Current;
        var freed = $"{doomed.Count} layer chain(s) to delete, {kept.Count} kept in use, {blobs.Count} blob(s) ({ByteSize.Format(blobs.Sum(b => b.Size))}) to delete";
        WorkflowTransitions.Fire<InstallState, InstallTrigger>(c, t, installRun, WorkflowMachines.ConfigureInstall, InstallTrigger.Remove,
            $"forgotten by {options.Trigger}: {freed}", who);
        foreach (var (chainId, device) in doomed)
        {
            if (c.Scalar<string>(t, "SELECT state FROM workflows WHERE id = $id;", ("$id", chainRuns[chainId].Id)) != nameof(ChainState.Deleting))
            {
                WorkflowTransitions.Fire<ChainState, ChainTrigger>(c, t, chainRuns[chainId], WorkflowMachines.ConfigureChain, ChainTrigger.Delete,
                    $"no image or snapshot uses it since '{name}' was removed ({options.Trigger}); device {device ?? "(none)"} goes", who);
            }
        }

        return new Intent(doomed, kept, blobs, orphans, left);
    }

    /// <summary>Deletes blob files (records already gone); returns the bytes freed.</summary>
    private long DeleteBlobFiles(IEnumerable<string> digests, ImageRemovalOptions options, IOperationContext context)
    {
        long freed = 0;
        foreach (var digest in digests.Distinct(StringComparer.Ordinal))
        {
            var path = ContentPaths.BlobPath(Store.RootPath, digest);
            var file = new FileInfo(path);
            if (file.Exists && file.LinkTarget is null)
            {
                var size = file.Length;
                file.Delete();
                freed += size;
                context.WriteVerbose($"Blob {digest} deleted ({ByteSize.Format(size)}).");
            }

            options.OnStep?.Invoke("blob");
        }

        return freed;
    }

    private async Task<List<string>> RemoveSnapshotsAsync(string source, string name, ImageRemovalOptions options, ChainDevices devices, IOperationContext context)
    {
        var snapshots = Snapshots(source, name);
        if (snapshots.Count == 0)
        {
            return [];
        }

        if (!options.RemoveSnapshots)
        {
            throw HasSnapshots(name, snapshots.Select(s => s.Name).ToList());
        }

        var removed = new List<string>();
        foreach (var snapshot in snapshots)
        {
            var poolName = devices.PoolOf(snapshot.Device ?? DeviceNames.Snapshot(snapshot.Id)) ?? new ThinPoolRepository(Store).FindDefaultPool()?.Name
                ?? throw new FlyException(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound, $"No thin pool holds snapshot '{snapshot.Name}' of '{name}'.", snapshot.Name);
            var pool = await devices.OpenAsync(poolName).ConfigureAwait(false);
            await new SnapshotWorkflow(Store, new PoolSnapshotSteps(pool), new WorkflowOptions { LeaseTtl = options.LeaseTtl })
                .RemoveAsync(source, name, snapshot.Name, context).ConfigureAwait(false);
            removed.Add(snapshot.Name);
            context.WriteVerbose($"Thin snapshot '{snapshot.Name}' of '{name}' removed.");
        }

        return removed;
    }

    private IReadOnlyList<ThinSnapshot> Snapshots(string source, string name) => new SnapshotRepository(Store).PresentOf(source, name);

    private static List<string> ChainsOf(SqliteConnection c, SqliteTransaction t, long imageId)
        => c.Query(t, "SELECT chain_id FROM image_chains WHERE image_id = $id ORDER BY idx;", r => r.GetString(0), ("$id", imageId));

    /// <summary>Whether another image, or a snapshot not of the image being removed, uses <paramref name="chainId"/>.</summary>
    private static bool InUse(SqliteConnection c, SqliteTransaction t, string chainId, long imageId, string source, string name)
        => c.Scalar<long>(t, "SELECT count(*) FROM image_chains WHERE chain_id = $c AND image_id <> $id;", ("$c", chainId), ("$id", imageId)) > 0
            || SnapshotRepository.OthersOnChain(c, t, chainId, source, name);

    /// <summary>The image's blobs (recorded, by digest) that no other image's layer references.</summary>
    private static List<(string Digest, long Size)> UnreferencedBlobs(SqliteConnection c, SqliteTransaction t, long imageId)
        => c.Query(t, """
            SELECT DISTINCT b.digest, b.size FROM image_layers l JOIN blobs b ON b.digest = l.digest
            WHERE l.image_id = $id AND NOT EXISTS (SELECT 1 FROM image_layers o WHERE o.digest = l.digest AND o.image_id <> $id)
            ORDER BY b.digest;
            """, r => (r.GetString(0), r.GetInt64(1)), ("$id", imageId));

    /// <summary>Blob files no record points to (left by a removal that stopped between its transaction and the files).</summary>
    private List<string> OrphanBlobFiles(SqliteConnection c, SqliteTransaction t)
    {
        var dir = ContentPaths.BlobDirectory(Store.RootPath);
        if (!Directory.Exists(dir))
        {
            return [];
        }

        var recorded = c.Query(t, "SELECT digest FROM blobs;", r => r.GetString(0)).ToHashSet(StringComparer.Ordinal);
        return Directory.EnumerateFiles(dir).Select(f => ContentPaths.DigestPrefix + Path.GetFileName(f))
            .Where(d => ContentPaths.IsValidDigest(d) && !recorded.Contains(d)).ToList();
    }

    /// <summary>Who else is installing (a live install lease other than <paramref name="mine"/>), or null: their blobs may not be recorded against an image yet.</summary>
    private static string? OtherInstallRunning(SqliteConnection c, SqliteTransaction t, string mine)
    {
        var now = DateTimeOffset.UtcNow;
        return c.Query(t, "SELECT key, host, boot_id, pid, start_ticks, token, acquired_at, expires_at FROM leases WHERE kind = $k AND key <> $mine;",
                r => (Key: r.GetString(0), Owner: new LeaseOwner(new ProcessIdentity(r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt64(4)), r.GetString(5),
                    StoreTime.Parse(r.GetString(6)), StoreTime.Parse(r.GetString(7)))), ("$k", WorkflowKinds.InstallImage), ("$mine", mine))
            .Where(l => !LeaseManager.IsStale(l.Owner, now)).Select(l => $"{l.Owner.Process} is installing '{l.Key}'").FirstOrDefault();
    }

    /// <summary>The RemovalIncomplete error for a result with something left.</summary>
    public static FlyException Incomplete(ImageRemovalResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new FlyException(ErrorIds.RemovalIncomplete, FlyErrorCategory.ResourceBusy,
            $"Image '{result.Image}' is forgotten but its removal is not complete: {string.Join("; ", result.Left)}.", result.Image)
        {
            RecommendedAction = "Run Remove-FlyImage or Limit-FlyImageStore again: the next run finishes what is left.",
        };
    }

    private static FlyException NotFound(string source, string name) => new(ErrorIds.ImageNotFound, FlyErrorCategory.ObjectNotFound,
        $"The store records no image '{name}' of {source}.", name);

    private static FlyException HasSnapshots(string name, IReadOnlyList<string> snapshots) => new(ErrorIds.ImageHasSnapshots, FlyErrorCategory.InvalidOperation,
        $"Image '{name}' has {snapshots.Count} thin snapshot(s): {string.Join(", ", snapshots.Take(10).Select(s => $"'{s}'"))}{(snapshots.Count > 10 ? ", ..." : "")}; nothing was removed.", name)
    {
        RecommendedAction = "Remove them first (Get-FlyThinSnapshot -Image <name> | Remove-FlyThinSnapshot), or add -RemoveSnapshots.",
    };

    private sealed record Intent(List<(string ChainId, string? Device)> Chains, List<string> Kept, List<(string Digest, long Size)> Blobs, List<string> Orphans, List<string> Left);
}
