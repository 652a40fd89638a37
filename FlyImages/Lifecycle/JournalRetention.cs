using FlyImages.State;

namespace FlyImages.Lifecycle;

/// <summary>
/// Keeps the workflow journal bounded: events older than <see cref="CollectionPolicy.JournalRetention"/> go, and for each
/// image (source, name) only the newest <see cref="CollectionPolicy.JournalEventsPerImage"/> stay. The database is
/// compacted (VACUUM) when at least <see cref="VacuumThreshold"/> rows went. Part of every collection.
/// </summary>
public static class JournalRetention
{
    /// <summary>Rows pruned at once that make a VACUUM worth its time.</summary>
    public const int VacuumThreshold = 10_000;

    /// <summary>Prunes the journal; returns how many events went.</summary>
    public static long Prune(FlyStore store, CollectionPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(policy);
        var cutoff = StoreTime.Format(DateTimeOffset.UtcNow - policy.JournalRetention);
        var pruned = store.Write((c, t) =>
        {
            long n = c.Exec(t, "DELETE FROM workflow_journal WHERE at < $cut;", ("$cut", cutoff));
            n += c.Exec(t, """
                DELETE FROM workflow_journal WHERE id IN (
                    SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY source, subject ORDER BY id DESC) AS newer FROM workflow_journal) WHERE newer > $keep);
                """, ("$keep", policy.JournalEventsPerImage));
            return n;
        });
        if (pruned >= VacuumThreshold)
        {
            using var connection = store.Connect();
            connection.Exec(null, "VACUUM;");
        }

        return pruned;
    }
}
