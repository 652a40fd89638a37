using FlyImages.Engine;
using FlyImages.Metrics;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.State.Migrations;
using FlyImages.TestSupport;
using FlyImages.Workflows;
using Microsoft.Data.Sqlite;
using Xunit;

namespace FlyImages.Tests.Health;

/// <summary>flyimages_failures_total by the journaled error id, and flyimages_fetched_bytes_total from store_counters (M008).</summary>
public sealed class CounterMetricsTests : IDisposable
{
    private readonly TempDirectory folder = new("flyimages-counters");

    [Fact]
    public async Task A_version_7_journal_gets_the_error_ids_its_failures_surfaced_with_and_new_ids_are_counted_too()
    {
        var path = folder.Combine("store");
        Directory.CreateDirectory(path);
        using (var c = new SqliteConnection($"Data Source={Path.Combine(path, FlyStore.DatabaseFileName)};Pooling=False"))
        {
            c.Open();
            foreach (var migration in MigrationCatalog.All.Where(m => m.Version <= 7))
            {
                using var t = c.BeginTransaction();
                migration.Apply(c, t);
                c.Exec(t, $"PRAGMA user_version = {migration.Version};");
                t.Commit();
            }

            // as version 7 wrote them: two failed installs, a rejected one, a faulty chain, a failed snapshot, and a Ready
            foreach (var (kind, to) in new[] { ("install-image", "Failed"), ("install-image", "Failed"), ("install-image", "Rejected"), ("make-chain", "Faulty"), ("snapshot", "Failed"), ("install-image", "Ready") })
            {
                c.Exec(null, """
                    INSERT INTO workflow_journal(at, kind, key, subject, source, run_id, from_state, to_state, trigger, detail, error, duration_ms, host, pid)
                    VALUES ('2026-01-01T00:00:00.0000000Z', $k, 'key', 'node', 's3://b/images', 'r1', 'Fetching', $to, 'Fail', NULL, 'boom', 1, 'h', 1);
                    """, ("$k", kind), ("$to", to));
            }
        }

        var store = FlyStore.Open(path);
        var events = WorkflowEvents.Query(store);
        Assert.Equal(["InstallFailed", "InstallFailed", "ImageRejected", "ChainFaulty", "SnapshotFailed", null], events.Select(e => e.ErrorId));

        // a failure journaled now keeps the id it surfaced with, also one the old mapping never knew
        store.Write((c, t) => c.Exec(t, """
            INSERT INTO workflow_journal(at, kind, key, subject, source, run_id, from_state, to_state, trigger, detail, error, error_id, duration_ms, host, pid)
            VALUES ('2026-01-02T00:00:00.0000000Z', 'install-image', 'key', 'node', 's3://b/images', 'r2', 'Unpacking', 'Failed', 'Fail', NULL, 'full', 'PoolFull', 1, 'h', 1);
            """));
        var (text, _) = await StoreMetrics.CollectAsync(store, NullOperationContext.Instance);
        Assert.Contains("# TYPE flyimages_failures_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_failures_total{error_id=\"InstallFailed\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_failures_total{error_id=\"ImageRejected\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_failures_total{error_id=\"ChainFaulty\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_failures_total{error_id=\"SnapshotFailed\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_failures_total{error_id=\"PoolFull\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetched_bytes_total_is_a_counter_that_only_grows()
    {
        var store = FlyStore.Open(folder.Combine("store2"));
        var (before, _) = await StoreMetrics.CollectAsync(store, NullOperationContext.Instance);
        Assert.Contains("# TYPE flyimages_fetched_bytes_total counter\n", before, StringComparison.Ordinal);
        Assert.Contains("flyimages_fetched_bytes_total 0\n", before, StringComparison.Ordinal);

        store.Write((c, t) => StoreCounters.Add(c, t, StoreCounters.FetchedBytes, 1000));
        store.Write((c, t) => StoreCounters.Add(c, t, StoreCounters.FetchedBytes, 234));
        store.Write((c, t) => StoreCounters.Add(c, t, StoreCounters.FetchedBytes, 0));
        Assert.Equal(1234, StoreCounters.Read(store, StoreCounters.FetchedBytes));
        var (after, _) = await StoreMetrics.CollectAsync(store, NullOperationContext.Instance);
        Assert.Contains("flyimages_fetched_bytes_total 1234\n", after, StringComparison.Ordinal);
    }

    public void Dispose() => folder.Dispose();
}
