using System.Globalization;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Health;

/// <summary>Where the store records a device: its pool, the pool's backend, its id and state.</summary>
internal sealed record RecordedDevice(string Pool, ThinPoolBackend Backend, int DeviceId, string State, string? DevicePath)
{
    public static RecordedDevice? Find(FlyStore store, string name) => store.Read((c, t) => c.Query(t, """
        SELECT p.name, p.backend, d.device_id, d.state, d.device_path FROM thin_devices d JOIN thin_pools p ON p.id = d.pool_id
        WHERE d.name = $n ORDER BY p.is_default DESC, p.name LIMIT 1;
        """, r => new RecordedDevice(r.GetString(0), Enum.Parse<ThinPoolBackend>(r.GetString(1)), r.GetInt32(2), r.GetString(3), r.GetStringOrNull(4)),
        ("$n", name)).FirstOrDefault());

    /// <summary>What is wrong with it, or null: Faulty or half-made, or (block-file pools) its image file is missing.</summary>
    public string? Problem(string storeRoot)
    {
        if (State is nameof(ThinDeviceState.Faulty) or nameof(ThinDeviceState.Creating) or nameof(ThinDeviceState.Removing))
        {
            return $"device {DeviceId} of pool '{Pool}' is {State}";
        }

        if (Backend == ThinPoolBackend.BlockFile && !File.Exists(ThinPoolLayout.DeviceImage(ThinPoolLayout.DevicesDirectory(storeRoot, Pool), DeviceId)))
        {
            return $"the image file of device {DeviceId} of pool '{Pool}' is missing (is the pool attached? Initialize-FlyThinPool re-attaches it)";
        }

        return null;
    }
}

/// <summary>Every Ready image's layer chains are Sealed and their devices present.</summary>
public sealed class ChainDevicesCheck : StoreCheck
{
    public override string Name => "ChainDevices";

    protected override Task<CheckOutcome> RunAsync(StoreCheckContext context, FlyStore store)
    {
        var rows = store.Read((c, t) => c.Query(t, """
            SELECT i.name, ic.chain_id, lc.device, w.state FROM images i
            JOIN image_chains ic ON ic.image_id = i.id
            JOIN layer_chains lc ON lc.chain_id = ic.chain_id
            LEFT JOIN workflows w ON w.kind = $k AND w.key = ic.chain_id
            JOIN workflows iw ON iw.kind = $ik AND iw.key = i.source || '/' || i.name
            WHERE iw.state = $ready ORDER BY i.name, ic.idx;
            """, r => (Image: r.GetString(0), Chain: r.GetString(1), Device: r.GetStringOrNull(2), State: r.GetStringOrNull(3)),
            ("$k", WorkflowKinds.MakeChain), ("$ik", WorkflowKinds.InstallImage), ("$ready", nameof(InstallState.Ready))));
        var problems = new List<string>();
        foreach (var chain in rows.DistinctBy(r => r.Chain))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var who = $"chain {BlobsCheck.Short(chain.Chain)} of image '{chain.Image}'";
            if (chain.State != nameof(ChainState.Sealed))
            {
                problems.Add($"{who} is {chain.State ?? "unknown"}, not Sealed");
            }
            else if (chain.Device is null || RecordedDevice.Find(store, chain.Device) is not { } device)
            {
                problems.Add($"{who} has no device recorded");
            }
            else if (device.Problem(store.RootPath) is { } problem)
            {
                problems.Add($"{who}: {problem}");
            }
        }

        var images = rows.Select(r => r.Image).Distinct().Count();
        var what = string.Create(CultureInfo.InvariantCulture, $"{images} Ready images, {rows.DistinctBy(r => r.Chain).Count()} chains");
        return Task.FromResult(problems.Count == 0 ? CheckOutcome.Pass(what + ": all sealed and present") : CheckOutcome.Fail($"{what}: {Problems.Join(problems)}"));
    }
}

/// <summary>Every Active snapshot's device is recorded, healthy and its block device present.</summary>
public sealed class SnapshotDevicesCheck : StoreCheck
{
    public override string Name => "SnapshotDevices";

    protected override Task<CheckOutcome> RunAsync(StoreCheckContext context, FlyStore store)
    {
        var rows = new SnapshotRepository(store).List().Where(s => s.State == SnapshotState.Active).ToList();
        var problems = new List<string>();
        foreach (var s in rows)
        {
            var who = $"snapshot '{s.Name}' of '{s.Image}'";
            if (s.Device is null || RecordedDevice.Find(store, s.Device) is not { } device)
            {
                problems.Add($"{who} has no device recorded");
            }
            else if (device.Problem(store.RootPath) is { } problem)
            {
                problems.Add($"{who}: {problem}");
            }
            else if (s.DevicePath is null || !File.Exists(s.DevicePath))
            {
                problems.Add($"{who}: its block device {s.DevicePath ?? "(none)"} is not present (not activated since a reboot?)");
            }
        }

        var what = string.Create(CultureInfo.InvariantCulture, $"{rows.Count} active snapshots");
        return Task.FromResult(problems.Count == 0 ? CheckOutcome.Pass(what + ": all devices present") : CheckOutcome.Fail($"{what}: {Problems.Join(problems)}"));
    }
}

/// <summary>Every pool is present, read-write, writable (block-file pools: a probe file) and above its free-space floor.</summary>
public sealed class PoolsCheck : StoreCheck
{
    public override string Name => "Pools";

    protected override async Task<CheckOutcome> RunAsync(StoreCheckContext context, FlyStore store)
    {
        var pools = new ThinPoolCatalog(store).List();
        if (pools.Count == 0)
        {
            return CheckOutcome.Skip("The store has no thin pool.");
        }

        var problems = new List<string>();
        var figures = new List<string>();
        foreach (var record in pools)
        {
            var status = await new ThinPoolCatalog(store).GetStatusAsync(record.Name, context.Operation).ConfigureAwait(false);
            figures.Add(string.Create(CultureInfo.InvariantCulture, $"{status.Name} {status.DataUsedPercent:0.#}%"));
            if (status.Mode != ThinPoolMode.ReadWrite)
            {
                problems.Add($"pool '{status.Name}' is {status.Mode}{(status.ModeDetail is null ? "" : ": " + status.ModeDetail)}");
                continue;
            }

            var floor = status.FreeSpaceFloorPercent;
            if (status.DataTotalBytes > 0 && 100.0 - status.DataUsedPercent < floor)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"pool '{status.Name}' has {100.0 - status.DataUsedPercent:0.#}% data free, below its floor of {floor:0.#}%"));
            }

            if (status.MetadataTotalBytes > 0 && 100.0 - status.MetadataUsedPercent < floor)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"pool '{status.Name}' has {100.0 - status.MetadataUsedPercent:0.#}% metadata free, below its floor of {floor:0.#}%"));
            }

            if (status.Backend == ThinPoolBackend.BlockFile && ProbeWrite(ThinPoolLayout.DevicesDirectory(store.RootPath, status.Name)) is { } error)
            {
                problems.Add($"pool '{status.Name}' cannot be written: {error}");
            }
        }

        var what = $"{pools.Count} pools ({string.Join(", ", figures)})";
        return problems.Count == 0 ? CheckOutcome.Pass(what + ": read-write, above their floor") : CheckOutcome.Fail($"{what}: {Problems.Join(problems)}");
    }

    /// <summary>Creates, syncs and deletes a small file of its own in <paramref name="folder"/>; the error text, or null.</summary>
    private static string? ProbeWrite(string folder)
    {
        var probe = Path.Combine(folder, ".health-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough))
            {
                stream.Write([1]);
                stream.Flush(flushToDisk: true);
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
        finally
        {
            try
            {
                File.Delete(probe);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // reported by the write above when it matters
            }
        }
    }
}
