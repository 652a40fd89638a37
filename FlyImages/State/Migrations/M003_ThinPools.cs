using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// Thin pools and their devices. A device's 24-bit id is allocated in the same transaction that
/// writes its record; every state change is written before the pool is touched and confirmed after.
/// </summary>
internal sealed class M003_ThinPools : IMigration
{
    public int Version => 3;

    public string Description => "thin pools, thin devices";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
    {
        connection.Exec(transaction, """
            CREATE TABLE thin_pools(
                id             INTEGER PRIMARY KEY,
                name           TEXT NOT NULL UNIQUE,
                backend        TEXT NOT NULL CHECK (backend IN ('DeviceMapper', 'BlockFile')),
                dm_name        TEXT,
                data_path      TEXT,
                metadata_path  TEXT,
                block_size     INTEGER NOT NULL CHECK (block_size > 0),
                data_size      INTEGER NOT NULL CHECK (data_size >= 0),
                metadata_size  INTEGER NOT NULL CHECK (metadata_size >= 0),
                floor_percent  REAL NOT NULL CHECK (floor_percent >= 0 AND floor_percent < 100),
                owned          INTEGER NOT NULL CHECK (owned IN (0, 1)),
                is_default     INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
                transaction_id INTEGER NOT NULL DEFAULT 0,
                created_at     TEXT NOT NULL,
                updated_at     TEXT NOT NULL);

            CREATE UNIQUE INDEX thin_pools_one_default ON thin_pools(is_default) WHERE is_default = 1;

            CREATE TABLE thin_devices(
                id           INTEGER PRIMARY KEY,
                pool_id      INTEGER NOT NULL REFERENCES thin_pools(id) ON DELETE CASCADE,
                device_id    INTEGER NOT NULL CHECK (device_id BETWEEN 1 AND 16777215),
                name         TEXT NOT NULL,
                kind         TEXT NOT NULL CHECK (kind IN ('Thin', 'Snapshot')),
                origin_id    INTEGER,
                size         INTEGER NOT NULL CHECK (size > 0),
                state        TEXT NOT NULL,
                state_detail TEXT,
                device_path  TEXT,
                created_at   TEXT NOT NULL,
                updated_at   TEXT NOT NULL,
                UNIQUE(pool_id, device_id),
                UNIQUE(pool_id, name));
            """);
    }
}
