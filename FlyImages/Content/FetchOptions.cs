namespace FlyImages.Content;

/// <summary>How the content store downloads. Defaults suit loopback and the public bucket alike.</summary>
public sealed class FetchOptions
{
    /// <summary>Bytes per ranged GET. Blobs up to this size are fetched with one GET.</summary>
    public long PartSize { get; init; } = 8 * 1024 * 1024;

    /// <summary>Ranged GETs in flight per blob at the start of a download.</summary>
    public int PartConcurrency { get; init; } = 6;

    /// <summary>
    /// The most ranged GETs per blob a download grows to while each added connection still adds throughput (an
    /// endpoint that caps each stream); a saturated link or server keeps <see cref="PartConcurrency"/>. At most this
    /// many read buffers of <see cref="BufferSize"/> per blob. Not above <see cref="PartConcurrency"/>: a fixed count.
    /// </summary>
    public int MaxPartConcurrency { get; init; } = 16;

    /// <summary>A blob with fewer parts of <see cref="PartSize"/> than <see cref="MaxPartConcurrency"/> is cut into smaller parts, not below this.</summary>
    public long MinPartSize { get; init; } = 2 * 1024 * 1024;

    /// <summary>The window over which the aggregate throughput is measured to decide whether more connections pay.</summary>
    public TimeSpan AdaptInterval { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Layers (blobs) in flight at once across a run.</summary>
    public int LayerConcurrency { get; init; } = 3;

    /// <summary>A blob larger than this is refused before downloading.</summary>
    public long MaxBlobSize { get; init; } = 64L * 1024 * 1024 * 1024;

    /// <summary>Free space to leave in the store's file system beyond the blob itself.</summary>
    public long FreeSpaceReserve { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// GETs per part at most, for resets, truncations, stalls and 5xx (each continues where the last stopped) and the
    /// whole-blob re-downloads after an MD5 mismatch together: the one retry layer of a fetch, for Save-FlyImage and
    /// Install-FlyImage alike.
    /// </summary>
    public int PartAttempts { get; init; } = 5;

    /// <summary>No byte for this long on an open body counts as a stall: the read is abandoned and retried.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First backoff between part attempts; doubles with jitter, capped at 10 s.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often progress of an interrupted download is made durable (fdatasync + record).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often progress callbacks fire.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Read buffer per part stream.</summary>
    public int BufferSize { get; init; } = 1024 * 1024;

    /// <summary>
    /// Check downloads against a plain-MD5 ETag (default on). MD5 is the slowest step on a busy CPU; without it a
    /// download is checked against the checksum its source announces, if any (else for length only), and the blob is
    /// not used to recognise identical content by MD5 later.
    /// </summary>
    public bool VerifyMd5 { get; init; } = true;

    /// <summary>
    /// Blobs of at least this size whose ETag is a plain MD5 are checked against the whole object's checksum the source
    /// announces (S3's additional checksums: CRC64NVME by default; one HEAD) instead of MD5, which costs about 1.4 core-
    /// seconds per GiB; where it announces none, MD5 as before. The ETag's MD5 then names the blob only for lookups from
    /// the same source (a claim, not computed). Default 64 MiB; <see cref="long.MaxValue"/> keeps MD5 always.
    /// </summary>
    public long SourceChecksumFrom { get; init; } = 64L * 1024 * 1024;

    /// <summary>Whether a blob of <paramref name="size"/> bytes with a plain-MD5 ETag is checked by its source's checksum where there is one.</summary>
    internal bool SourceChecksumReplacesMd5(long size) => size >= SourceChecksumFrom;

    /// <summary>Read S3 bytes through AWSSDK response streams instead of plain HttpClient with presigned URLs (slower; for comparison).</summary>
    public bool UseSdkStreams { get; init; }

    public static FetchOptions Default { get; } = new();

    /// <summary>The part size a new download of a blob of <paramref name="size"/> bytes uses.</summary>
    internal long PartSizeFor(long size) => ParallelismTuner.PartSizeFor(size, PartSize, Math.Max(PartConcurrency, MaxPartConcurrency), MinPartSize);

    internal void Validate()
    {
        if (PartSize < 64 * 1024 || PartSize > 1024L * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(PartSize), PartSize, "The part size must be between 64 KiB and 1 GiB.");
        }

        if (SourceChecksumFrom < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(SourceChecksumFrom), SourceChecksumFrom, "The size from which a source's checksum replaces MD5 cannot be negative.");
        }

        if (PartAttempts is < 1 or > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(PartAttempts), PartAttempts, "The attempts per part must be between 1 and 100.");
        }

        if (PartConcurrency is < 1 or > 64 || MaxPartConcurrency is < 1 or > 64 || LayerConcurrency is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(PartConcurrency), "Concurrency must be between 1 and 64.");
        }
    }
}
