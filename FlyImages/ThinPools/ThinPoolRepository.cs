using FlyImages.Errors;
using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.ThinPools;

/// <summary>The SQL of pools and device records. Every write is one transaction.</summary>
internal sealed class ThinPoolRepository(FlyStore store)
{
    /// <summary>Names of placeholder records (ids held by devices FlyImages did not make) start with this; callers may not use it.</summary>
    public const string ReservedPrefix = "#";

    private const string PoolColumns = "id, name, backend, dm_name, data_path, metadata_path, block_size, data_size, metadata_size, floor_percent, owned, is_default, transaction_id, created_at, filesystem_image";
    private const string DeviceColumns = "d.device_id, d.name, d.kind, d.origin_id, d.size, d.state, d.state_detail, d.device_path, d.created_at, d.updated_at, p.name";

    public FlyStore Store => store;

    public IReadOnlyList<ThinPoolRecord> ListPools() => store.Read((c, t) => c.Query(t, $"SELECT {PoolColumns} FROM thin_pools ORDER BY name;", MapPool));

    public ThinPoolRecord? FindPool(string name) => store.Read((c, t) => c.Query(t, $"SELECT {PoolColumns} FROM thin_pools WHERE name = $n;", MapPool, ("$n", name)).FirstOrDefault());

    public ThinPoolRecord? FindDefaultPool() => store.Read((c, t) => c.Query(t, $"SELECT {PoolColumns} FROM thin_pools WHERE is_default = 1;", MapPool).FirstOrDefault());

    /// <summary>Inserts a pool; it becomes the default when asked or when the store has no default yet.</summary>
    public ThinPoolRecord InsertPool(ThinPoolRecord pool, bool makeDefault) => store.Write((c, t) =>
    {
        if (c.Scalar<long>(t, "SELECT COUNT(*) FROM thin_pools WHERE name = $n;", ("$n", pool.Name)) > 0)
        {
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.ResourceExists, $"The store already records a pool named '{pool.Name}'.", pool.Name);
        }

        var isDefault = makeDefault || c.Scalar<long>(t, "SELECT COUNT(*) FROM thin_pools WHERE is_default = 1;") == 0;
        if (isDefault)
        {
            c.Exec(t, "UPDATE thin_pools SET is_default = 0 WHERE is_default = 1;");
        }

        var now = StoreTime.Now();
        var id = c.Scalar<long>(t, """
            INSERT INTO thin_pools(name, backend, dm_name, data_path, metadata_path, block_size, data_size, metadata_size, floor_percent, owned, is_default, created_at, updated_at, filesystem_image)
            VALUES ($n, $b, $dm, $dp, $mp, $bs, $ds, $ms, $f, $o, $def, $now, $now, $fs) RETURNING id;
            """, ("$n", pool.Name), ("$b", pool.Backend.ToString()), ("$dm", pool.DmName), ("$dp", pool.DataPath), ("$mp", pool.MetadataPath),
            ("$bs", pool.BlockSize), ("$ds", pool.DataSize), ("$ms", pool.MetadataSize), ("$f", pool.FreeSpaceFloorPercent), ("$o", pool.Owned ? 1 : 0),
            ("$def", isDefault ? 1 : 0), ("$now", now), ("$fs", pool.FilesystemImage));
        return pool with { Id = id, IsDefault = isDefault, CreatedAt = StoreTime.Parse(now) };
    });

    public void SetDefault(string pool) => store.Write((c, t) =>
    {
        c.Exec(t, "UPDATE thin_pools SET is_default = 0 WHERE is_default = 1 AND name <> $n;", ("$n", pool));
        c.Exec(t, "UPDATE thin_pools SET is_default = 1, updated_at = $now WHERE name = $n;", ("$n", pool), ("$now", StoreTime.Now()));
    });

    public void SetFloor(string pool, double percent) => store.Write((c, t) =>
        c.Exec(t, "UPDATE thin_pools SET floor_percent = $f, updated_at = $now WHERE name = $n;", ("$f", percent), ("$n", pool), ("$now", StoreTime.Now())));

    public void DeletePool(string pool) => store.Write((c, t) => c.Exec(t, "DELETE FROM thin_pools WHERE name = $n;", ("$n", pool)));

    /// <summary>BlockFile pools count their own transactions (dm pools report the kernel's).</summary>
    public long BumpTransaction(string pool) => store.Write((c, t) =>
        c.Scalar<long>(t, "UPDATE thin_pools SET transaction_id = transaction_id + 1 WHERE name = $n RETURNING transaction_id;", ("$n", pool)));

    public long TransactionId(string pool) => store.Read((c, t) => c.Scalar<long>(t, "SELECT transaction_id FROM thin_pools WHERE name = $n;", ("$n", pool)));

    public IReadOnlyList<ThinDevice> ListDevices(string pool) => store.Read((c, t) =>
        c.Query(t, $"SELECT {DeviceColumns} FROM thin_devices d JOIN thin_pools p ON p.id = d.pool_id WHERE p.name = $p ORDER BY d.device_id;", MapDevice, ("$p", pool)));

    public int CountDevices(string pool) => store.Read((c, t) =>
        c.Scalar<int>(t, "SELECT COUNT(*) FROM thin_devices d JOIN thin_pools p ON p.id = d.pool_id WHERE p.name = $p;", ("$p", pool)));

    public ThinDevice? FindDevice(string pool, string name) => store.Read((c, t) =>
        c.Query(t, $"SELECT {DeviceColumns} FROM thin_devices d JOIN thin_pools p ON p.id = d.pool_id WHERE p.name = $p AND d.name = $n;", MapDevice, ("$p", pool), ("$n", name)).FirstOrDefault());

    public ThinDevice? FindDevice(string pool, int deviceId) => store.Read((c, t) =>
        c.Query(t, $"SELECT {DeviceColumns} FROM thin_devices d JOIN thin_pools p ON p.id = d.pool_id WHERE p.name = $p AND d.device_id = $i;", MapDevice, ("$p", pool), ("$i", deviceId)).FirstOrDefault());

    /// <summary>
    /// Allocates the next free 24-bit id and writes the device's record in state Creating, in one
    /// transaction: two writers can never take the same id, and a crash leaves a record that names it.
    /// Ids of records in any state (Faulty included) are never handed out again until the record goes.
    /// </summary>
    public ThinDevice BeginCreate(string pool, string name, ThinDeviceKind kind, int? originId, long size) => store.Write((c, t) =>
    {
        var poolId = c.Scalar<long?>(t, "SELECT id FROM thin_pools WHERE name = $p;", ("$p", pool))
            ?? throw new FlyException(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound, $"The store records no pool named '{pool}'.", pool);
        if (c.Scalar<long>(t, "SELECT COUNT(*) FROM thin_devices WHERE pool_id = $p AND name = $n;", ("$p", poolId), ("$n", name)) > 0)
        {
            throw new FlyException(ErrorIds.ThinDeviceExists, FlyErrorCategory.ResourceExists, $"Pool '{pool}' already has a device named '{ThinPoolNames.Printable(name)}'.", name);
        }

        var id = AllocateId(c, t, poolId) ?? throw new FlyException(ErrorIds.ThinPoolIdsExhausted, FlyErrorCategory.LimitsExceeded,
            $"Pool '{pool}' has no free device id left (all {ThinPoolNames.MaxDeviceId} are recorded).", pool);
        var now = StoreTime.Now();
        c.Exec(t, """
            INSERT INTO thin_devices(pool_id, device_id, name, kind, origin_id, size, state, created_at, updated_at)
            VALUES ($p, $i, $n, $k, $o, $s, $st, $now, $now);
            """, ("$p", poolId), ("$i", id), ("$n", name), ("$k", kind.ToString()), ("$o", originId), ("$s", size), ("$st", nameof(ThinDeviceState.Creating)), ("$now", now));
        return new ThinDevice
        {
            Pool = pool,
            Name = name,
            DeviceId = id,
            Kind = kind,
            OriginId = originId,
            SizeBytes = size,
            State = ThinDeviceState.Creating,
            CreatedAt = StoreTime.Parse(now),
            UpdatedAt = StoreTime.Parse(now),
        };
    });

    /// <summary>Records a state (and its detail: null clears it). <paramref name="devicePath"/> is kept unless given.</summary>
    public void SetState(string pool, int deviceId, ThinDeviceState state, string? detail = null, string? devicePath = null, bool clearPath = false) => store.Write((c, t) =>
        c.Exec(t, """
            UPDATE thin_devices SET state = $s, state_detail = $d, updated_at = $now,
                device_path = CASE WHEN $clear = 1 THEN NULL WHEN $path IS NOT NULL THEN $path ELSE device_path END
            WHERE device_id = $i AND pool_id = (SELECT id FROM thin_pools WHERE name = $p);
            """, ("$s", state.ToString()), ("$d", Clip(detail)), ("$now", StoreTime.Now()), ("$clear", clearPath ? 1 : 0), ("$path", devicePath),
            ("$i", deviceId), ("$p", pool)));

    /// <summary>Keeps the trying state and writes the error text of the failed step.</summary>
    public void SetDetail(string pool, int deviceId, string detail) => store.Write((c, t) =>
        c.Exec(t, "UPDATE thin_devices SET state_detail = $d, updated_at = $now WHERE device_id = $i AND pool_id = (SELECT id FROM thin_pools WHERE name = $p);",
            ("$d", Clip(detail)), ("$now", StoreTime.Now()), ("$i", deviceId), ("$p", pool)));

    /// <summary>
    /// The pool already held this id (someone else's device): the record becomes a Faulty placeholder
    /// named <c>#foreign-&lt;id&gt;</c> so the id is never handed out again and the caller's name is free.
    /// </summary>
    public void MarkForeign(string pool, int deviceId, string detail) => store.Write((c, t) =>
        c.Exec(t, """
            UPDATE thin_devices SET name = $n, state = $s, state_detail = $d, updated_at = $now
            WHERE device_id = $i AND pool_id = (SELECT id FROM thin_pools WHERE name = $p);
            """, ("$n", $"{ReservedPrefix}foreign-{deviceId}"), ("$s", nameof(ThinDeviceState.Faulty)), ("$d", Clip("id held by a device FlyImages did not make: " + detail)),
            ("$now", StoreTime.Now()), ("$i", deviceId), ("$p", pool)));

    /// <summary>
    /// Gives device <paramref name="deviceId"/> the name <paramref name="newName"/> (names live only in the store:
    /// dm names and image files carry ids). ThinDeviceExists when the pool already has a device of that name.
    /// </summary>
    public void RenameDevice(string pool, int deviceId, string newName) => store.Write((c, t) =>
    {
        var poolId = c.Scalar<long?>(t, "SELECT id FROM thin_pools WHERE name = $p;", ("$p", pool))
            ?? throw new FlyException(ErrorIds.ThinPoolNotFound, FlyErrorCategory.ObjectNotFound, $"The store records no pool named '{pool}'.", pool);
        if (c.Scalar<long>(t, "SELECT COUNT(*) FROM thin_devices WHERE pool_id = $p AND name = $n;", ("$p", poolId), ("$n", newName)) > 0)
        {
            throw new FlyException(ErrorIds.ThinDeviceExists, FlyErrorCategory.ResourceExists, $"Pool '{pool}' already has a device named '{ThinPoolNames.Printable(newName)}'.", newName);
        }

        c.Exec(t, "UPDATE thin_devices SET name = $n, updated_at = $now WHERE pool_id = $p AND device_id = $i;",
            ("$n", newName), ("$now", StoreTime.Now()), ("$p", poolId), ("$i", deviceId));
    });

    /// <summary>Deletes a record once the pool confirmed the device is gone: its id becomes free.</summary>
    public void DeleteDevice(string pool, int deviceId) => store.Write((c, t) =>
        c.Exec(t, "DELETE FROM thin_devices WHERE device_id = $i AND pool_id = (SELECT id FROM thin_pools WHERE name = $p);", ("$i", deviceId), ("$p", pool)));

    private static int? AllocateId(SqliteConnection c, SqliteTransaction t, long poolId)
    {
        var max = c.Scalar<long?>(t, "SELECT MAX(device_id) FROM thin_devices WHERE pool_id = $p;", ("$p", poolId)) ?? 0;
        if (max < ThinPoolNames.MaxDeviceId)
        {
            return (int)max + 1;
        }

        // wrapped: the lowest id with no record (an id is free once its device was confirmed deleted)
        var gap = c.Scalar<long?>(t, """
            SELECT MIN(x) FROM (
                SELECT 1 AS x WHERE NOT EXISTS (SELECT 1 FROM thin_devices WHERE pool_id = $p AND device_id = 1)
                UNION ALL
                SELECT d.device_id + 1 FROM thin_devices d
                WHERE d.pool_id = $p AND d.device_id < $max
                  AND NOT EXISTS (SELECT 1 FROM thin_devices e WHERE e.pool_id = $p AND e.device_id = d.device_id + 1));
            """, ("$p", poolId), ("$max", ThinPoolNames.MaxDeviceId));
        return gap is null ? null : (int)gap.Value;
    }

    private static string? Clip(string? text) => text is null ? null : text.Length <= 4000 ? text : text[..4000] + "...";

    private static ThinPoolRecord MapPool(SqliteDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Name = r.GetString(1),
        Backend = Enum.Parse<ThinPoolBackend>(r.GetString(2)),
        DmName = r.GetStringOrNull(3),
        DataPath = r.GetStringOrNull(4),
        MetadataPath = r.GetStringOrNull(5),
        BlockSize = r.GetInt64(6),
        DataSize = r.GetInt64(7),
        MetadataSize = r.GetInt64(8),
        FreeSpaceFloorPercent = r.GetDouble(9),
        Owned = r.GetInt64(10) == 1,
        IsDefault = r.GetInt64(11) == 1,
        TransactionId = r.GetInt64(12),
        CreatedAt = StoreTime.Parse(r.GetString(13)),
        FilesystemImage = r.GetStringOrNull(14),
    };

    private static ThinDevice MapDevice(SqliteDataReader r) => new()
    {
        DeviceId = r.GetInt32(0),
        Name = r.GetString(1),
        Kind = Enum.TryParse<ThinDeviceKind>(r.GetString(2), out var k) ? k : ThinDeviceKind.Thin,
        OriginId = r.IsDBNull(3) ? null : r.GetInt32(3),
        SizeBytes = r.GetInt64(4),
        State = Enum.TryParse<ThinDeviceState>(r.GetString(5), out var s) ? s : ThinDeviceState.Faulty,
        StateDetail = r.GetStringOrNull(6),
        DevicePath = r.GetStringOrNull(7),
        CreatedAt = StoreTime.Parse(r.GetString(8)),
        UpdatedAt = StoreTime.Parse(r.GetString(9)),
        Pool = r.GetString(10),
    };
}
