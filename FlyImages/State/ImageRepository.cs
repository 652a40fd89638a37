using FlyImages.Model;
using Microsoft.Data.Sqlite;

namespace FlyImages.State;

/// <summary>
/// The one owner of the image SQL: images, their layers as last listed, and which chains they use.
/// An image's state is not stored here: it is derived on read from its install workflow (the only
/// writer of image state, through its persisted machine) and, where no install decided it (no
/// workflow, or Pending), from which of its layer blobs the content store holds (see <see cref="Shown"/>).
/// </summary>
public sealed class ImageRepository(FlyStore store)
{
    /// <summary>The workflow kind whose state is the image's (WorkflowKinds.InstallImage; its key is source + "/" + name).</summary>
    internal const string InstallKind = "install-image";

    /// <summary>Every recorded image (optionally of one source), with its layers, by name.</summary>
    public IReadOnlyList<Image> List(string? source = null) => store.Read((c, t) => Load(c, t, source, null));

    public Image? Find(string source, string name) => store.Read((c, t) => Load(c, t, source, name).FirstOrDefault());

    /// <summary>Records <paramref name="image"/> as its source lists it (layers replaced, digests included).</summary>
    public void Record(Image image) => store.Write((c, t) => Record(c, t, image));

    /// <summary>Records <paramref name="image"/> in the caller's transaction; returns its id.</summary>
    internal static long Record(SqliteConnection c, SqliteTransaction t, Image image)
    {
        var id = c.Scalar<long>(t, """
            INSERT INTO images(source, name, created_at, updated_at) VALUES ($src, $n, $now, $now)
            ON CONFLICT(source, name) DO UPDATE SET updated_at = excluded.updated_at
            RETURNING id;
            """, ("$src", image.Source), ("$n", image.Name), ("$now", StoreTime.Now()));
        c.Exec(t, "DELETE FROM image_layers WHERE image_id = $id;", ("$id", id));
        foreach (var layer in image.Layers)
        {
            c.Exec(t, "INSERT INTO image_layers(image_id, idx, key, size, etag, last_modified, digest) VALUES ($id, $i, $k, $sz, $e, $lm, $dg);",
                ("$id", id), ("$i", layer.Index), ("$k", layer.Key), ("$sz", layer.Size), ("$e", layer.ETag), ("$lm", StoreTime.Format(layer.LastModified)), ("$dg", layer.Digest));
        }

        return id;
    }

    /// <summary>The id of the image, recording it (as <paramref name="image"/> lists it) when it is new.</summary>
    internal static long Ensure(SqliteConnection c, SqliteTransaction t, Image image) => IdOf(c, t, image.Source, image.Name) ?? Record(c, t, image);

    /// <summary>The id of image <paramref name="name"/> of <paramref name="source"/>, or null when the store does not record it.</summary>
    internal static long? IdOf(SqliteConnection c, SqliteTransaction t, string source, string name)
        => c.Scalar<long?>(t, "SELECT id FROM images WHERE source = $src AND name = $n;", ("$src", source), ("$n", name));

    /// <summary>Records the digest of layer <paramref name="index"/> of the image.</summary>
    internal static void SetLayerDigest(SqliteConnection c, SqliteTransaction t, string source, string name, int index, string digest)
        => c.Exec(t, "UPDATE image_layers SET digest = $d WHERE idx = $i AND image_id = (SELECT id FROM images WHERE source = $src AND name = $n);",
            ("$d", digest), ("$i", index), ("$src", source), ("$n", name));

    /// <summary>The images (source, name) that use any of <paramref name="chainIds"/>.</summary>
    public IReadOnlyList<(string Source, string Name)> UsingChains(IReadOnlySet<string> chainIds) => store.Read((c, t) => c.Query(t, """
            SELECT DISTINCT i.source, i.name, ic.chain_id FROM image_chains ic JOIN images i ON i.id = ic.image_id ORDER BY i.source, i.name;
            """, r => (Source: r.GetString(0), Name: r.GetString(1), Chain: r.GetString(2))))
        .Where(x => chainIds.Contains(x.Chain)).Select(x => (x.Source, x.Name)).Distinct().ToList();

    /// <summary>
    /// What Get-FlyImage shows for an install in <paramref name="installState"/> (null: never installed),
    /// <paramref name="blobs"/> of <paramref name="layers"/> layer blobs being in the content store.
    /// No install decided (none, or Pending: never started, or its pool was removed): the blobs say
    /// Remote, Fetching (some) or Fetched (all). Otherwise the install's state, whatever the blobs.
    /// </summary>
    public static ImageState Shown(string? installState, int layers, int blobs) => installState switch
    {
        null or "Pending" => blobs == 0 ? ImageState.Remote : blobs < layers ? ImageState.Fetching : ImageState.Fetched,
        "Resolving" or "Fetching" => ImageState.Fetching,
        "Unpacking" => ImageState.Unpacking,
        "Ready" => ImageState.Ready,
        "Rejected" => ImageState.Rejected,
        _ => ImageState.Failed, // Failed, or a state this FlyImages does not know
    };

    private string? BlobPathOf(string? digest)
    {
        if (!ContentPaths.IsValidDigest(digest))
        {
            return null;
        }

        var path = ContentPaths.BlobPath(store.RootPath, digest!);
        return File.Exists(path) ? path : null;
    }

    private List<Image> Load(SqliteConnection c, SqliteTransaction t, string? source, string? name)
    {
        // one WHERE per case, never "$x IS NULL OR col = $x": SQLite plans a statement once, so that form scans
        // every image for a lookup of one (a re-run over N Ready images read N^2 rows)
        var where = (source, name) switch
        {
            (not null, not null) => "WHERE i.source = $src AND i.name = $n",
            (not null, null) => "WHERE i.source = $src",
            (null, not null) => "WHERE i.name = $n",
            _ => "",
        };
        var rows = c.Query(t, $"""
            SELECT i.id, i.source, i.name, i.updated_at, w.state, w.state_detail, w.updated_at FROM images i
            LEFT JOIN workflows w ON w.kind = $kind AND w.key = i.source || '/' || i.name
            {where}
            ORDER BY i.name, i.source;
            """, r => (Id: r.GetInt64(0), Source: r.GetString(1), Name: r.GetString(2), Updated: r.GetTimeOrNull(3),
                Install: r.GetStringOrNull(4), Detail: r.GetStringOrNull(5), InstallUpdated: r.GetTimeOrNull(6)),
            ("$kind", InstallKind), ("$src", source), ("$n", name));
        var images = new List<Image>(rows.Count);
        foreach (var row in rows)
        {
            var layers = c.Query(t, "SELECT idx, key, size, etag, last_modified, digest FROM image_layers WHERE image_id = $id ORDER BY idx;",
                r => new Layer
                {
                    Index = r.GetInt32(0),
                    Key = r.GetString(1),
                    Size = r.GetInt64(2),
                    ETag = r.GetStringOrNull(3),
                    LastModified = r.GetTimeOrNull(4),
                    Digest = r.GetStringOrNull(5),
                    BlobPath = BlobPathOf(r.GetStringOrNull(5)),
                }, ("$id", row.Id));
            var state = Shown(row.Install, layers.Count, layers.Count(l => l.BlobPath is not null));
            images.Add(new Image
            {
                Name = row.Name,
                Source = row.Source,
                Layers = layers,
                State = state,
                StateDetail = state == ImageState.Ready ? null : row.Detail,
                UpdatedAt = row.InstallUpdated > row.Updated ? row.InstallUpdated : row.Updated,
            });
        }

        return images;
    }
}
