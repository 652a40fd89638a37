using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// Counters the metrics read: <c>store_counters</c> holds monotonic totals (bytes downloaded from sources), and
/// <c>workflow_journal.error_id</c> the stable error id a failure surfaced with. Journal rows of failures written
/// before this version get the id their kind and state always surfaced with (install Failed: InstallFailed,
/// install Rejected: ImageRejected, chain Faulty: ChainFaulty, snapshot Failed: SnapshotFailed).
/// </summary>
internal sealed class M008_Counters : IMigration
{
    public int Version => 8;

    public string Description => "store_counters (fetched bytes) and workflow_journal.error_id";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
        => connection.Exec(transaction, """
            CREATE TABLE store_counters(
                name  TEXT PRIMARY KEY,
                value INTEGER NOT NULL);
            ALTER TABLE workflow_journal ADD COLUMN error_id TEXT;
            UPDATE workflow_journal SET error_id = CASE
                WHEN kind = 'install-image' AND to_state = 'Failed' THEN 'InstallFailed'
                WHEN kind = 'install-image' AND to_state = 'Rejected' THEN 'ImageRejected'
                WHEN kind = 'make-chain' AND to_state = 'Faulty' THEN 'ChainFaulty'
                WHEN kind = 'snapshot' AND to_state = 'Failed' THEN 'SnapshotFailed'
                END
            WHERE to_state IN ('Failed', 'Rejected', 'Faulty');
            """);
}
