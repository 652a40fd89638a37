using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// An image's state has one owner: its install workflow (and, where no install decided it, its blobs).
/// The images table's own copy (state, state_detail) goes: it is derived on read (ImageRepository).
/// What only that copy knew was what Save-FlyImage last did, and the blobs still say it (Fetched or
/// Fetching), except a failed save of a never-installed image: it becomes a Failed install workflow
/// here, as Save-FlyImage records one now.
/// </summary>
internal sealed class M006_ImageStateDerived : IMigration
{
    public int Version => 6;

    public string Description => "image state derived from the install workflow: images.state and state_detail dropped";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
    {
        connection.Exec(transaction, """
            INSERT INTO workflows(kind, key, subject, source, state, state_detail, run_id, attempt, run_started_at, created_at, updated_at)
            SELECT 'install-image', i.source || '/' || i.name, i.name, i.source, 'Failed', i.state_detail, 'migration6', 1, i.updated_at, i.updated_at, i.updated_at
            FROM images i WHERE i.state = 'Failed'
            ON CONFLICT(kind, key) DO UPDATE SET state = 'Failed', state_detail = excluded.state_detail, updated_at = excluded.updated_at
                WHERE workflows.state = 'Pending';

            ALTER TABLE images DROP COLUMN state;
            ALTER TABLE images DROP COLUMN state_detail;
            """);
    }
}
