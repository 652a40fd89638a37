using FlyImages.State;

namespace FlyImages.Content;

/// <summary>A stored blob as the database records it.</summary>
internal sealed record BlobRecord(string Digest, long Size, string? Md5);

/// <summary>An interrupted download: which parts of the partial file are complete.</summary>
internal sealed record PartialRecord(string Source, string Key, string? ETag, long Size, long PartSize, string FileName, byte[] PartsDone);

/// <summary>The content store's rows: blobs, source objects, partial downloads. Every statement is parameterised.</summary>
internal sealed class ContentRepository(FlyStore store)
{
    public BlobRecord? FindBySourceObject(string source, string key, string? etag, long size) => store.Read((c, t) => c.Query(t, """
        SELECT b.digest, b.size, b.md5 FROM source_objects o JOIN blobs b ON b.digest = o.digest
        WHERE o.source = $src AND o.key = $k AND o.etag IS $e AND o.size = $sz AND b.size = $sz;
        """, Map, ("$src", source), ("$k", key), ("$e", etag), ("$sz", size)).FirstOrDefault());

    /// <summary>
    /// A stored blob whose MD5 is <paramref name="md5"/>: computed from its bytes, or claimed by the ETag of an object of
    /// <paramref name="source"/> itself (a source's claim never names content for another source).
    /// </summary>
    public BlobRecord? FindByMd5(string md5, long size, string source) => store.Read((c, t) => c.Query(t, """
        SELECT digest, size, md5 FROM blobs WHERE md5 = $m AND size = $sz AND (md5_claimed_by IS NULL OR md5_claimed_by = $src)
        ORDER BY md5_claimed_by IS NOT NULL, verified_at DESC;
        """, Map, ("$m", md5), ("$sz", size), ("$src", source)).FirstOrDefault());

    public BlobRecord? FindBlob(string digest) => store.Read((c, t) => c.Query(t,
        "SELECT digest, size, md5 FROM blobs WHERE digest = $d;", Map, ("$d", digest)).FirstOrDefault());

    /// <summary>
    /// Records a verified blob and the source object it came from, and adds <paramref name="fetchedBytes"/> (what the
    /// download that stored it received) to the fetched-bytes counter, in one transaction. <paramref name="md5ClaimedBy"/>
    /// names the source whose ETag claims <paramref name="md5"/> when it was not computed from the bytes; an MD5
    /// computed from the bytes replaces a claimed one, never the other way round.
    /// </summary>
    public void RecordBlob(string digest, long size, string? md5, string? md5ClaimedBy, SourceObjectRow origin, long fetchedBytes) => store.Write((c, t) =>
    {
        var now = StoreTime.Now();
        StoreCounters.Add(c, t, StoreCounters.FetchedBytes, fetchedBytes);
        c.Exec(t, """
            INSERT INTO blobs(digest, size, created_at, verified_at) VALUES ($d, $sz, $now, $now)
            ON CONFLICT(digest) DO UPDATE SET verified_at = excluded.verified_at;
            UPDATE blobs SET md5 = $m, md5_claimed_by = $by
            WHERE digest = $d AND $m IS NOT NULL AND (md5 IS NULL OR (md5_claimed_by IS NOT NULL AND $by IS NULL));
            """, ("$d", digest), ("$sz", size), ("$m", md5), ("$by", md5ClaimedBy), ("$now", now));
        UpsertSourceObject(c, t, origin, digest, now);
    });

    /// <summary>Adds bytes received by a download that stored nothing (failed, or discarded as corrupt) to the fetched-bytes counter.</summary>
    public void CountFetched(long bytes) => store.Write((c, t) => StoreCounters.Add(c, t, StoreCounters.FetchedBytes, bytes));

    /// <summary>Records that <paramref name="origin"/> has the content of the stored blob <paramref name="digest"/>.</summary>
    public void RecordSourceObject(SourceObjectRow origin, string digest) => store.Write((c, t) => UpsertSourceObject(c, t, origin, digest, StoreTime.Now()));

    public void MarkVerified(string digest) => store.Write((c, t) =>
        c.Exec(t, "UPDATE blobs SET verified_at = $now WHERE digest = $d;", ("$now", StoreTime.Now()), ("$d", digest)));

    /// <summary>Forgets a blob (its source objects go with it): its file was missing or damaged.</summary>
    public void ForgetBlob(string digest) => store.Write((c, t) => c.Exec(t, "DELETE FROM blobs WHERE digest = $d;", ("$d", digest)));

    public PartialRecord? FindPartial(string source, string key) => store.Read((c, t) => c.Query(t,
        "SELECT source, key, etag, size, part_size, file_name, parts_done FROM partial_downloads WHERE source = $src AND key = $k;",
        r => new PartialRecord(r.GetString(0), r.GetString(1), r.GetStringOrNull(2), r.GetInt64(3), r.GetInt64(4), r.GetString(5), (byte[])r.GetValue(6)),
        ("$src", source), ("$k", key)).FirstOrDefault());

    public void SavePartial(PartialRecord p) => store.Write((c, t) =>
    {
        var now = StoreTime.Now();
        c.Exec(t, """
            INSERT INTO partial_downloads(source, key, etag, size, part_size, file_name, parts_done, created_at, updated_at)
            VALUES ($src, $k, $e, $sz, $ps, $f, $done, $now, $now)
            ON CONFLICT(source, key) DO UPDATE SET etag = excluded.etag, size = excluded.size, part_size = excluded.part_size,
                file_name = excluded.file_name, parts_done = excluded.parts_done, updated_at = excluded.updated_at;
            """, ("$src", p.Source), ("$k", p.Key), ("$e", p.ETag), ("$sz", p.Size), ("$ps", p.PartSize), ("$f", p.FileName), ("$done", p.PartsDone), ("$now", now));
    });

    public void DeletePartial(string source, string key) => store.Write((c, t) =>
        c.Exec(t, "DELETE FROM partial_downloads WHERE source = $src AND key = $k;", ("$src", source), ("$k", key)));

    private static void UpsertSourceObject(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction t, SourceObjectRow o, string digest, string now)
        => c.Exec(t, """
            INSERT INTO source_objects(source, key, etag, size, last_modified, digest, fetched_at) VALUES ($src, $k, $e, $sz, $lm, $d, $now)
            ON CONFLICT(source, key) DO UPDATE SET etag = excluded.etag, size = excluded.size, last_modified = excluded.last_modified,
                digest = excluded.digest, fetched_at = excluded.fetched_at;
            """, ("$src", o.Source), ("$k", o.Key), ("$e", o.ETag), ("$sz", o.Size), ("$lm", StoreTime.Format(o.LastModified)), ("$d", digest), ("$now", now));

    private static BlobRecord Map(Microsoft.Data.Sqlite.SqliteDataReader r) => new(r.GetString(0), r.GetInt64(1), r.GetStringOrNull(2));
}

/// <summary>One object of a source, as a layer names it.</summary>
internal sealed record SourceObjectRow(string Source, string Key, string? ETag, long Size, DateTimeOffset? LastModified);
