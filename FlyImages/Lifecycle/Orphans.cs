using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Lifecycle;

/// <summary>One thing a collection found that nothing explains, and what deleting it frees.</summary>
internal sealed record Orphan(string Description, long PoolBytes, long StoreBytes, Func<Task>? Delete);

/// <summary>
/// What a collection takes away besides images, each reported (never silently): mount points below the store's mounts
/// folder left by processes that are gone (unmounted, removed); chain and snapshot devices in a pool
/// that no record points to and no live lease is making; staged layer devices of install runs that are gone; partial downloads not touched for the stale age; blob files no
/// record points to; blobs no image references. Content is only touched under the exclusive content lock with no install
/// running, as <see cref="ImageRemoval"/> does.
/// </summary>
internal static class Orphans
{
    private const string ChainPrefix = "chain:";
    private const string SnapshotPrefix = "snapshot:";

    public static IReadOnlyList<Orphan> Find(FlyStore store, CollectionPolicy policy, ChainDevices? devices = null, bool content = true)
    {
        // mount points of dead processes first: a device mounted there could not be deleted
        var found = OrphanedMounts.Find(store.RootPath).Select(m => new Orphan(
            $"mount point '{m.Path}' of device {m.DeviceId} in pool '{m.Pool}' ({(m.Mounted ? "still mounted" : "empty")}), left by process {m.Pid} that is gone",
            0, 0, devices is null ? null : () => OrphanedMounts.ReleaseAsync(m, devices.Context))).ToList();
        var leases = new LeaseManager(store).Live().Select(l => l.Key).ToHashSet();
        var pools = new ThinPoolRepository(store);
        var workflows = new WorkflowRepository(store);
        var chainDevices = new LayerChainRepository(store).DevicesByChain();
        var snapshots = new SnapshotRepository(store).List().ToDictionary(s => s.Id, s => (Key: SnapshotWorkflow.KeyOf(s.Source, s.Image, s.Name), s.Device));
        foreach (var pool in pools.ListPools())
        {
            foreach (var device in pools.ListDevices(pool.Name))
            {
                var explained = true;
                if (device.Name.StartsWith(ChainPrefix, StringComparison.Ordinal))
                {
                    var chainId = device.Name[ChainPrefix.Length..];
                    explained = chainDevices.GetValueOrDefault(chainId) == device.Name || leases.Contains(new LeaseKey(WorkflowKinds.MakeChain, chainId));
                }
                else if (StagedLayer.RunOf(device.Name) is { } runId)
                {
                    // a layer applied while it downloads: explained while the install run that staged it is alive
                    explained = workflows.FindByRun(runId) is { } owner && leases.Contains(new LeaseKey(owner.Kind, owner.Key));
                }
                else if (device.Name.StartsWith(SnapshotPrefix, StringComparison.Ordinal) && long.TryParse(device.Name[SnapshotPrefix.Length..], out var id))
                {
                    explained = snapshots.TryGetValue(id, out var s) && (s.Device == device.Name || leases.Contains(new LeaseKey(WorkflowKinds.Snapshot, s.Key)));
                }

                if (!explained)
                {
                    var name = device.Name;
                    var poolName = pool.Name;
                    found.Add(new Orphan($"device '{name}' (id {device.DeviceId}) in pool '{poolName}': no record points to it", 0, 0, devices is null ? null : async () =>
                    {
                        var open = await devices.OpenAsync(poolName).ConfigureAwait(false);
                        await open.DeleteIfPresentAsync(name, devices.Context).ConfigureAwait(false);
                    }));
                }
            }
        }

        if (!content)
        {
            return found;
        }

        var now = DateTimeOffset.UtcNow;
        var partialDir = ContentPaths.PartialDirectory(store.RootPath);
        var partials = store.Read((c, t) => c.Query(t, "SELECT source, key, file_name, updated_at FROM partial_downloads;",
            r => (Source: r.GetString(0), Key: r.GetString(1), File: r.GetString(2), Updated: StoreTime.Parse(r.GetString(3)))));
        foreach (var p in partials.Where(p => now - p.Updated > policy.StalePartialAge))
        {
            var path = Path.Combine(partialDir, Path.GetFileName(p.File));
            var size = File.Exists(path) ? new FileInfo(path).Length : 0;
            found.Add(new Orphan($"partial download of '{Sources.ImageLayout.Show(p.Key)}' ({ByteSize.Format(size)}), untouched since {p.Updated:u}", 0, size, () =>
            {
                File.Delete(path);
                store.Write((c, t) => c.Exec(t, "DELETE FROM partial_downloads WHERE source = $s AND key = $k;", ("$s", p.Source), ("$k", p.Key)));
                return Task.CompletedTask;
            }));
        }

        if (Directory.Exists(partialDir))
        {
            var recorded = partials.Select(p => Path.GetFileName(p.File)).ToHashSet(StringComparer.Ordinal);
            foreach (var file in new DirectoryInfo(partialDir).EnumerateFiles("*.part").Where(f => !recorded.Contains(f.Name) && now - f.LastWriteTimeUtc > policy.StalePartialAge))
            {
                found.Add(new Orphan($"partial file '{file.Name}' ({ByteSize.Format(file.Length)}) no download records", 0, file.Length, () =>
                {
                    file.Delete();
                    return Task.CompletedTask;
                }));
            }
        }

        var blobs = store.Read((c, t) => c.Query(t, """
            SELECT b.digest, b.size FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM image_layers l WHERE l.digest = b.digest) ORDER BY b.digest;
            """, r => (Digest: r.GetString(0), Size: r.GetInt64(1))));
        foreach (var blob in blobs)
        {
            found.Add(new Orphan($"blob {blob.Digest} ({ByteSize.Format(blob.Size)}): no image references it", 0, blob.Size, () =>
            {
                store.Write((c, t) => c.Exec(t, "DELETE FROM blobs WHERE digest = $d AND NOT EXISTS (SELECT 1 FROM image_layers l WHERE l.digest = $d);", ("$d", blob.Digest)));
                File.Delete(ContentPaths.BlobPath(store.RootPath, blob.Digest));
                return Task.CompletedTask;
            }));
        }

        var blobDir = ContentPaths.BlobDirectory(store.RootPath);
        if (Directory.Exists(blobDir))
        {
            var rows = store.Read((c, t) => c.Query(t, "SELECT digest FROM blobs;", r => r.GetString(0))).ToHashSet(StringComparer.Ordinal);
            foreach (var file in new DirectoryInfo(blobDir).EnumerateFiles())
            {
                var digest = ContentPaths.DigestPrefix + file.Name;
                if (ContentPaths.IsValidDigest(digest) && !rows.Contains(digest))
                {
                    found.Add(new Orphan($"blob file {digest} ({ByteSize.Format(file.Length)}): no record points to it", 0, file.Length, () =>
                    {
                        file.Delete();
                        return Task.CompletedTask;
                    }));
                }
            }
        }

        return found;
    }

    /// <summary>
    /// Deletes the orphans (content ones only under the exclusive content lock with no install running); returns what went,
    /// each journaled (trigger orphan, run <paramref name="runId"/>).
    /// </summary>
    public static async Task<List<Orphan>> CollectAsync(FlyStore store, CollectionPolicy policy, IOperationContext context, string runId)
    {
        var devices = new ChainDevices(store, context);
        using var guard = await ContentGuard.TryExclusiveAsync(store.RootPath, TimeSpan.FromSeconds(5), context.CancellationToken).ConfigureAwait(false);
        var installing = new LeaseManager(store).Live().FirstOrDefault(l => l.Key.Kind == WorkflowKinds.InstallImage);
        var content = guard is not null && installing.Owner is null;
        if (!content)
        {
            context.WriteWarning("Blobs and partial downloads were not collected: fetches or installs are running; the next Limit-FlyImageStore collects them.");
        }

        var gone = new List<Orphan>();
        foreach (var orphan in Find(store, policy, devices, content))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            try
            {
                await orphan.Delete!().ConfigureAwait(false);
                gone.Add(orphan);
                LifecycleJournal.OrphanCollected(store, runId, orphan.Description, orphan.PoolBytes, orphan.StoreBytes);
                context.WriteWarning($"Collected an orphan: {orphan.Description}.");
            }
            catch (Exception e) when (e is Errors.FlyException or IOException or UnauthorizedAccessException)
            {
                context.WriteWarning($"Could not collect {orphan.Description}: {e.Message}");
            }
        }

        return gone;
    }
}
