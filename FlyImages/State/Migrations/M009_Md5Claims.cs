using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// <c>blobs.md5_claimed_by</c>: where a blob's bytes were checked against a checksum S3 announced (a CRC) instead of
/// the MD5 of its plain-MD5 ETag, the MD5 is the source's claim, not computed; the column names that source, and only
/// lookups by MD5 from the same source find the blob by it. NULL (every row before this version) means the MD5 was
/// computed from the bytes, and any source may find the blob by it.
/// </summary>
internal sealed class M009_Md5Claims : IMigration
{
    public int Version => 9;

    public string Description => "blobs.md5_claimed_by: an MD5 a source's ETag claims, not computed";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
        => connection.Exec(transaction, "ALTER TABLE blobs ADD COLUMN md5_claimed_by TEXT;");
}
