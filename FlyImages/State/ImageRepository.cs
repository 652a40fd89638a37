using FlyImages.Model;
using Microsoft.Data.Sqlite;

namespace FlyImages.State;

/// <summary>Images and their layers as the store records them.</summary>
public sealed class ImageRepository(FlyStore store)
{
    /// <summary>Every recorded image (optionally of one source), with its layers, by name.</summary>
    public IReadOnlyList<Image> List(string? source = null) => store.Read((c, t) => Load(c, t, source, null));

    public Image? Find(string source, string name) => store.Read((c, t) => Load(c, t, source, name).FirstOrDefault());

    /// <summary>Records <paramref name="image"/> (layers replaced) in state <paramref name="state"/>.</summary>
    public void Upsert(Image image, ImageState state, string? detail = null) => store.Write((c, t) => Upsert(c, t, image, state, detail));

    /// <summary>Changes an image's state; false when it is not recorded.</summary>
    public bool SetState(string source, string name, ImageState state, string? detail = null)
        => store.Write((c, t) => c.Exec(t, "UPDATE images SET state = $s, state_detail = $d, updated_at = $now WHERE source = $src AND name = $n;",
            ("$s", state.ToString()), ("$d", detail), ("$now", StoreTime.Now()), ("$src", source), ("$n", name)) == 1);

    internal static long Upsert(SqliteConnection c, SqliteTransaction t, Image image, ImageState state, string? detail)
    {
        var now = StoreTime.Now();
        var id = c.Scalar<long>(t, """
            INSERT INTO images(source, name, state, state_detail, created_at, updated_at) VALUES ($src, $n, $s, $d, $now, $now)
            ON CONFLICT(source, name) DO UPDATE SET state = excluded.state, state_detail = excluded.state_detail, updated_at = excluded.updated_at
            RETURNING id;
            """, ("$src", image.Source), ("$n", image.Name), ("$s", state.ToString()), ("$d", detail), ("$now", now));
        c.Exec(t, "DELETE FROM image_layers WHERE image_id = $id;", ("$id", id));
        foreach (var layer in image.Layers)
        {
            c.Exec(t, "INSERT INTO image_layers(image_id, idx, key, size, etag, last_modified, digest) VALUES ($id, $i, $k, $sz, $e, $lm, $dg);",
                ("$id", id), ("$i", layer.Index), ("$k", layer.Key), ("$sz", layer.Size), ("$e", layer.ETag), ("$lm", StoreTime.Format(layer.LastModified)), ("$dg", layer.Digest));
        }

        return id;
    }

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
        var rows = c.Query(t, """
            SELECT id, source, name, state, state_detail, updated_at FROM images
            WHERE ($src IS NULL OR source = $src) AND ($n IS NULL OR name = $n)
            ORDER BY name, source;
            """, r => (Id: r.GetInt64(0), Source: r.GetString(1), Name: r.GetString(2), State: r.GetString(3), Detail: r.GetStringOrNull(4), Updated: r.GetTimeOrNull(5)),
            ("$src", source), ("$n", name));
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
            images.Add(new Image
            {
                Name = row.Name,
                Source = row.Source,
                Layers = layers,
                State = Enum.TryParse<ImageState>(row.State, out var s) ? s : ImageState.Failed,
                StateDetail = row.Detail,
                UpdatedAt = row.Updated,
            });
        }

        return images;
    }
}
