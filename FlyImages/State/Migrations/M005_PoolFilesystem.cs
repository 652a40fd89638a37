using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// Block-file pools may keep their device images on a filesystem of their own (XFS with reflink in one
/// sparse file): <c>thin_pools.filesystem_image</c> names that file, null when the images live in a
/// plain folder of the store's filesystem.
/// </summary>
internal sealed class M005_PoolFilesystem : IMigration
{
    public int Version => 5;

    public string Description => "block-file pools on a reflink filesystem of their own";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
        => connection.Exec(transaction, "ALTER TABLE thin_pools ADD COLUMN filesystem_image TEXT;");
}
