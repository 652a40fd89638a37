using FlyImages.Errors;
using FlyImages.Health;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.Workflows;

namespace FlyImages.Metrics;

/// <summary>
/// The store's metrics in the Prometheus text format, all named <c>flyimages_*</c>, read from the store's records and
/// its workflow journal (durations and failures). Every family is always present (a state with no image is 0), so
/// dashboards and alerts see stable series.
/// </summary>
public static class StoreMetrics
{
    /// <summary>Histogram bucket bounds of install durations, seconds.</summary>
    public static IReadOnlyList<double> InstallBuckets { get; } = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600];

    /// <summary>Histogram bucket bounds of snapshot durations, seconds.</summary>
    public static IReadOnlyList<double> SnapshotBuckets { get; } = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>
    /// Error ids of flyimages_failures_total always present (0 when none happened), so alerts see stable series; any
    /// other id the journal records (PoolFull, ChainWriteFailed...) is added when it occurs.
    /// </summary>
    private static readonly string[] FailureIds = [ErrorIds.InstallFailed, ErrorIds.ImageRejected, ErrorIds.ChainFaulty, ErrorIds.SnapshotFailed];

    /// <summary>Reads the store and returns its metrics text and the number of samples.</summary>
    public static async Task<(string Text, int Samples)> CollectAsync(FlyStore store, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(context);
        var m = new PrometheusText();
        var samples = 0;
        PrometheusText Sample(string name, double value, params (string, string)[] labels)
        {
            samples++;
            return m.Sample(name, value, labels);
        }

        // the state Get-FlyImage shows, derived on read by the one owner of image state
        var images = new ImageRepository(store).List().GroupBy(i => i.State.ToString()).Select(g => (State: g.Key, Count: (long)g.Count())).ToList();
        m.Family("flyimages_images", "gauge", "Images the store records, by state.");
        foreach (var state in Enum.GetNames<ImageState>())
        {
            Sample("flyimages_images", images.Where(i => i.State == state).Sum(i => i.Count), ("state", state));
        }

        var chains = store.Read((c, t) => c.Query(t, """
            SELECT coalesce(w.state, 'Pending'), count(*), coalesce(sum(d.size), 0) FROM layer_chains lc
            LEFT JOIN workflows w ON w.kind = $k AND w.key = lc.chain_id
            LEFT JOIN thin_devices d ON d.name = lc.device
            GROUP BY 1;
            """, r => (State: r.GetString(0), Count: r.GetInt64(1), Bytes: r.GetInt64(2)), ("$k", WorkflowKinds.MakeChain)));
        m.Family("flyimages_chains", "gauge", "Layer chains the store records, by state.");
        foreach (var state in Enum.GetNames<ChainState>())
        {
            Sample("flyimages_chains", chains.Where(x => x.State == state).Sum(x => x.Count), ("state", state));
        }

        m.Family("flyimages_chain_device_bytes", "gauge", "Virtual size of the layer chains' thin devices, bytes.");
        Sample("flyimages_chain_device_bytes", chains.Sum(x => x.Bytes));

        var blobs = store.Read((c, t) => c.Query(t, "SELECT count(*), coalesce(sum(size), 0) FROM blobs;", r => (Count: r.GetInt64(0), Bytes: r.GetInt64(1))).Single());
        m.Family("flyimages_blobs", "gauge", "Layer blobs in the content store.");
        Sample("flyimages_blobs", blobs.Count);
        m.Family("flyimages_blob_bytes", "gauge", "Size of the layer blobs in the content store, bytes.");
        Sample("flyimages_blob_bytes", blobs.Bytes);

        var fetched = store.Read((c, t) => c.Scalar<long>(t, "SELECT coalesce(sum(size), 0) FROM source_objects;"));
        m.Family("flyimages_fetched_bytes", "gauge", "Bytes of the source objects the store holds the content of (each object fetched once).");
        Sample("flyimages_fetched_bytes", fetched);
        m.Family("flyimages_fetched_bytes_total", "counter", "Bytes downloaded from sources, failed and discarded downloads included.");
        Sample("flyimages_fetched_bytes_total", StoreCounters.Read(store, StoreCounters.FetchedBytes));

        var pools = new List<ThinPoolStatus>();
        foreach (var pool in new ThinPoolCatalog(store).List())
        {
            pools.Add(await new ThinPoolCatalog(store).GetStatusAsync(pool.Name, context).ConfigureAwait(false));
        }

        foreach (var (name, help, value) in new (string, string, Func<ThinPoolStatus, long>)[]
        {
            ("flyimages_pool_data_used_bytes", "Data space a thin pool uses, bytes.", p => p.DataUsedBytes),
            ("flyimages_pool_data_size_bytes", "Data space of a thin pool, bytes.", p => p.DataTotalBytes),
            ("flyimages_pool_metadata_used_bytes", "Metadata space a thin pool uses, bytes (0 for block-file pools).", p => p.MetadataUsedBytes),
            ("flyimages_pool_metadata_size_bytes", "Metadata space of a thin pool, bytes (0 for block-file pools).", p => p.MetadataTotalBytes),
        })
        {
            m.Family(name, "gauge", help);
            foreach (var pool in pools)
            {
                Sample(name, value(pool), ("pool", pool.Name));
            }
        }

        m.Family("flyimages_pool_up", "gauge", "1 when a thin pool is present and read-write, else 0.");
        foreach (var pool in pools)
        {
            Sample("flyimages_pool_up", pool.Mode == ThinPoolMode.ReadWrite ? 1 : 0, ("pool", pool.Name));
        }

        m.Family("flyimages_install_duration_seconds", "histogram", "Duration of install runs that ended Ready, from the workflow journal, seconds.");
        samples += InstallBuckets.Count + 3;
        m.Histogram("flyimages_install_duration_seconds", InstallBuckets, RunDurations(store, WorkflowKinds.InstallImage, "Ready"));
        m.Family("flyimages_snapshot_duration_seconds", "histogram", "Duration of snapshot runs that ended Active, from the workflow journal, seconds.");
        samples += SnapshotBuckets.Count + 3;
        m.Histogram("flyimages_snapshot_duration_seconds", SnapshotBuckets, RunDurations(store, WorkflowKinds.Snapshot, "Active"));

        // the id each failure surfaced with, as the journal row of its failed state records it
        var failures = store.Read((c, t) => c.Query(t, "SELECT error_id, count(*) FROM workflow_journal WHERE error_id IS NOT NULL GROUP BY error_id;",
            r => (ErrorId: r.GetString(0), Count: r.GetInt64(1))));
        m.Family("flyimages_failures_total", "counter", "Workflow failures the journal records, by the error id they surfaced with.");
        foreach (var errorId in FailureIds.Concat(failures.Select(f => f.ErrorId).Order(StringComparer.Ordinal)).Distinct())
        {
            Sample("flyimages_failures_total", failures.Where(f => f.ErrorId == errorId).Sum(f => f.Count), ("error_id", errorId));
        }

        if (StoreHealth.LastPass(store) is { } lastPass)
        {
            m.Family("flyimages_last_passed_check_timestamp_seconds", "gauge", "When Test-FlyImageStore last passed every check, Unix time in seconds.");
            Sample("flyimages_last_passed_check_timestamp_seconds", lastPass.ToUnixTimeMilliseconds() / 1000.0);
        }

        return (m.ToString(), samples);
    }

    /// <summary>Seconds from the first journal entry of each run of <paramref name="kind"/> to its entry reaching <paramref name="endState"/>.</summary>
    internal static List<double> RunDurations(FlyStore store, string kind, string endState)
        => store.Read((c, t) => c.Query(t, """
            SELECT min(at), max(CASE WHEN to_state = $end THEN at END) FROM workflow_journal WHERE kind = $k
            GROUP BY run_id HAVING max(CASE WHEN to_state = $end THEN at END) IS NOT NULL;
            """, r => (StoreTime.Parse(r.GetString(1)) - StoreTime.Parse(r.GetString(0))).TotalSeconds, ("$k", kind), ("$end", endState)));
}
