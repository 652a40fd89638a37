using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// The content store: verified blobs by sha256 (with the MD5 when known, for dedup before downloading),
/// which source object each came from, and the progress of interrupted downloads.
/// </summary>
internal sealed class M002_ContentStore : IMigration
{
    public int Version => 2;

    public string Description => "content store: blobs, source objects, partial downloads";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
    {
        connection.Exec(transaction, """
            CREATE TABLE blobs(
                digest      TEXT PRIMARY KEY CHECK (digest GLOB 'sha256:*' AND length(digest) = 71),
                size        INTEGER NOT NULL CHECK (size >= 0),
                md5         TEXT CHECK (md5 IS NULL OR length(md5) = 32),
                created_at  TEXT NOT NULL,
                verified_at TEXT NOT NULL);

            CREATE INDEX blobs_md5 ON blobs(md5, size) WHERE md5 IS NOT NULL;

            CREATE TABLE source_objects(
                source        TEXT NOT NULL,
                key           TEXT NOT NULL,
                etag          TEXT,
                size          INTEGER NOT NULL CHECK (size >= 0),
                last_modified TEXT,
                digest        TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
                fetched_at    TEXT NOT NULL,
                PRIMARY KEY (source, key));

            CREATE INDEX source_objects_digest ON source_objects(digest);

            CREATE TABLE partial_downloads(
                source     TEXT NOT NULL,
                key        TEXT NOT NULL,
                etag       TEXT,
                size       INTEGER NOT NULL CHECK (size >= 0),
                part_size  INTEGER NOT NULL CHECK (part_size > 0),
                file_name  TEXT NOT NULL,
                parts_done BLOB NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (source, key));
            """);
    }
}
