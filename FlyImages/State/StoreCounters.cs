using Microsoft.Data.Sqlite;

namespace FlyImages.State;

/// <summary>
/// Monotonic totals the store keeps (<c>store_counters</c>): they only grow, so they are Prometheus counters that
/// survive restarts. Added to inside the transaction that records what they count.
/// </summary>
public static class StoreCounters
{
    /// <summary>Bytes received from sources by blob downloads (resumed parts are counted by the attempt that received them).</summary>
    public const string FetchedBytes = "fetched_bytes";

    internal static void Add(SqliteConnection c, SqliteTransaction t, string name, long delta)
    {
        if (delta <= 0)
        {
            return;
        }

        c.Exec(t, "INSERT INTO store_counters(name, value) VALUES ($n, $v) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value;",
            ("$n", name), ("$v", delta));
    }

    /// <summary>The counter's value (0 before anything was counted).</summary>
    public static long Read(FlyStore store, string name)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Read((c, t) => c.Scalar<long?>(t, "SELECT value FROM store_counters WHERE name = $n;", ("$n", name))) ?? 0;
    }
}
