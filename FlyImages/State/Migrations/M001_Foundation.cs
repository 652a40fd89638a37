using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>Store identity, images and their layers as last seen.</summary>
internal sealed class M001_Foundation : IMigration
{
    public int Version => 1;

    public string Description => "store info, images, image layers";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
    {
        connection.Exec(transaction, """
            CREATE TABLE store_info(
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL);

            CREATE TABLE images(
                id           INTEGER PRIMARY KEY,
                source       TEXT NOT NULL,
                name         TEXT NOT NULL,
                state        TEXT NOT NULL,
                state_detail TEXT,
                created_at   TEXT NOT NULL,
                updated_at   TEXT NOT NULL,
                UNIQUE(source, name));

            CREATE TABLE image_layers(
                image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                idx           INTEGER NOT NULL CHECK (idx >= 1),
                key           TEXT NOT NULL,
                size          INTEGER NOT NULL CHECK (size >= 0),
                etag          TEXT,
                last_modified TEXT,
                digest        TEXT,
                PRIMARY KEY (image_id, idx));
            """);
    }
}
