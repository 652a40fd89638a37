using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.Workflows;

/// <summary>An activated image: a thin snapshot of its top chain's device.</summary>
public sealed record ThinSnapshot(long Id, string Name, string Image, string Source, string ChainId, string? Device, string? DevicePath,
    SnapshotState State, string? StateDetail, DateTimeOffset CreatedAt)
{
    /// <summary>The host this object describes (see <see cref="Model.LocalHost"/>).</summary>
    public string ComputerName { get; init; } = Model.LocalHost.ComputerName;

    public override string ToString() => Name;
}

/// <summary>The SQL of the snapshots table: every snapshot record, with the state of its snapshot workflow.</summary>
public sealed class SnapshotRepository(FlyStore store)
{
    private const string From = """
        FROM snapshots s LEFT JOIN workflows w ON w.kind = 'snapshot' AND w.key = s.source || '/' || s.image || '#' || s.name
        """;

    /// <summary>A snapshot that is not Removed (one never started counts: its record is there).</summary>
    private const string Present = "coalesce(w.state, 'Pending') <> 'Removed'";

    /// <summary>Snapshots, optionally of one image (source and name), by image then name.</summary>
    public IReadOnlyList<ThinSnapshot> List(string? source = null, string? image = null)
        => store.Read((c, t) => Query(c, t, (source, image) switch
        {
            // one WHERE per case: "$x IS NULL OR col = $x" is planned once, as a scan of every snapshot
            (not null, not null) => "WHERE s.source = $src AND s.image = $img",
            (not null, null) => "WHERE s.source = $src",
            (null, not null) => "WHERE s.image = $img",
            _ => "",
        }, ("$src", source), ("$img", image)));

    public ThinSnapshot? Find(string source, string image, string name)
        => store.Read((c, t) => Query(c, t, "WHERE s.source = $src AND s.image = $img AND s.name = $n", ("$src", source), ("$img", image), ("$n", name)).SingleOrDefault());

    /// <summary>The snapshots of image <paramref name="image"/> of <paramref name="source"/> that are not Removed, by name.</summary>
    public IReadOnlyList<ThinSnapshot> PresentOf(string source, string image) => store.Read((c, t) => PresentOf(c, t, source, image));

    /// <summary><see cref="PresentOf(string, string)"/> in the caller's transaction.</summary>
    internal static List<ThinSnapshot> PresentOf(SqliteConnection c, SqliteTransaction t, string source, string image)
        => Query(c, t, $"WHERE {Present} AND s.source = $src AND s.image = $img", ("$src", source), ("$img", image));

    /// <summary>Whether a snapshot that is not Removed, of another image than <paramref name="image"/> of <paramref name="source"/>, is of chain <paramref name="chainId"/>.</summary>
    internal static bool OthersOnChain(SqliteConnection c, SqliteTransaction t, string chainId, string source, string image)
        => c.Scalar<long>(t, $"SELECT count(*) {From} WHERE {Present} AND s.chain_id = $c AND NOT (s.source = $src AND s.image = $img);",
            ("$c", chainId), ("$src", source), ("$img", image)) > 0;

    /// <summary>
    /// Records snapshot <paramref name="name"/> of the image (once), of chain <paramref name="chainId"/> unless it has a
    /// device already; returns its id.
    /// </summary>
    public long Record(string source, string image, string name, string chainId) => store.Write((c, t) => c.Scalar<long>(t, """
        INSERT INTO snapshots(source, image, name, chain_id, created_at, updated_at) VALUES ($src, $img, $n, $c, $now, $now)
        ON CONFLICT(source, image, name) DO UPDATE SET chain_id = CASE WHEN device IS NULL THEN excluded.chain_id ELSE chain_id END
        RETURNING id;
        """, ("$src", source), ("$img", image), ("$n", name), ("$c", chainId), ("$now", StoreTime.Now())));

    /// <summary>Forgets snapshot <paramref name="id"/> (one that never made anything).</summary>
    public void Delete(long id) => store.Write((c, t) => c.Exec(t, "DELETE FROM snapshots WHERE id = $id;", ("$id", id)));

    internal static void SetDevice(SqliteConnection c, SqliteTransaction t, long id, string? device, string? path)
        => c.Exec(t, "UPDATE snapshots SET device = $d, device_path = $p, updated_at = $now WHERE id = $id;", ("$d", device), ("$p", path), ("$now", StoreTime.Now()), ("$id", id));

    private static List<ThinSnapshot> Query(SqliteConnection c, SqliteTransaction t, string where, params (string, object?)[] parameters)
        => c.Query(t, $"""
            SELECT s.id, s.name, s.image, s.source, s.chain_id, s.device, s.device_path, w.state, w.state_detail, s.created_at
            {From}
            {where} ORDER BY s.image, s.name;
            """, r => new ThinSnapshot(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetStringOrNull(5), r.GetStringOrNull(6),
            Enum.TryParse<SnapshotState>(r.GetStringOrNull(7), out var s) ? s : SnapshotState.Pending, r.GetStringOrNull(8), StoreTime.Parse(r.GetString(9))), parameters);
}
