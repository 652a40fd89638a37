using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// When an image was last used (an install or a snapshot asked for it): the collector removes the least
/// recently used images first. Null: never used since this column exists (the image's own times count then).
/// </summary>
internal sealed class M007_Lifecycle : IMigration
{
    public int Version => 7;

    public string Description => "images.last_used_at for least-recently-used collection";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
        => connection.Exec(transaction, "ALTER TABLE images ADD COLUMN last_used_at TEXT;");
}
