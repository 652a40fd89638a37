using System.Collections.Concurrent;
using System.Security.Cryptography;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Content;

/// <summary>
/// The content-addressed blob store of a host: verified blobs at <c>blobs/sha256/&lt;hex&gt;</c> under the
/// store folder, recorded in SQLite with the source objects they came from. A layer is fetched only if
/// it is not already here: (source, key, ETag, size) recorded with the file present means no request;
/// identical content already stored (same plain-MD5 ETag and size) is reused; identical content being
/// fetched by another caller of this instance is awaited, not fetched twice. Bytes reach
/// <c>blobs/sha256/</c> only after verification (sha256 always, MD5 against a plain-MD5 ETag, length),
/// through a synced file renamed into place. Thread-safe; one instance per run lets concurrent fetches
/// share in-flight downloads.
/// </summary>
public sealed partial class ContentStore
{
    private readonly ContentRepository repository;
    private readonly ConcurrentDictionary<string, Lazy<Task<BlobInfo>>> inFlight = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim downloads;

    public ContentStore(FlyStore store, FetchOptions? options = null)
    {
        Store = store;
        Options = options ?? FetchOptions.Default;
        Options.Validate();
        repository = new ContentRepository(store);
        downloads = new SemaphoreSlim(Options.LayerConcurrency);
    }

    public FlyStore Store { get; }

    public FetchOptions Options { get; }

    /// <summary>The file of a blob (whether or not it is present).</summary>
    public string BlobPath(string digest) => ContentPaths.BlobPath(Store.RootPath, digest);

    /// <summary>
    /// The stored blob for <paramref name="layer"/> of <paramref name="sourceUri"/> if it is recorded (same key,
    /// ETag, size) and its file is present; no request, no hashing.
    /// </summary>
    public BlobInfo? TryGetBlob(string sourceUri, Layer layer)
    {
        var record = repository.FindBySourceObject(sourceUri, layer.Key, layer.ETag, layer.Size);
        return record is not null && IsPresent(record) ? Info(record, FetchOutcome.Present) : null;
    }

    /// <summary>The stored blob with <paramref name="digest"/> if its file is present.</summary>
    public BlobInfo? TryGetBlob(string digest)
    {
        var record = ContentPaths.IsValidDigest(digest) ? repository.FindBlob(digest) : null;
        return record is not null && IsPresent(record) ? Info(record, FetchOutcome.Present) : null;
    }

    /// <summary>
    /// Brings <paramref name="layer"/>'s blob into the store unless it is already here, and returns it.
    /// With <paramref name="force"/>, a present blob is re-hashed (and fetched again if it no longer matches).
    /// <paramref name="progress"/> is called a few times a second while bytes move, and once at the end.
    /// Cancellation leaves a partial file that the next call resumes. When the blob must be downloaded here,
    /// <paramref name="incoming"/> is called once, before the first byte, with a reader of the bytes as they become
    /// final (unverified until this call returns; see <see cref="IncomingBlob"/>).
    /// </summary>
    public async Task<BlobInfo> FetchLayerAsync(IImageSource source, Layer layer, IOperationContext context, CancellationToken cancellationToken,
        Action<LayerProgress>? progress = null, bool force = false, Action<IncomingBlob>? incoming = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(layer);
        if (layer.Size < 0 || !IsSafeKey(layer.Key))
        {
            throw new FlyException(ErrorIds.ImageKeyRejected, FlyErrorCategory.InvalidArgument,
                $"The layer '{ImageLayout.Show(layer.Key ?? "")}' has an unsafe key (empty, absolute, '.' or '..' segments, control characters, too long) or a negative size ({layer.Size}).", layer.Key);
        }

        var origin = new SourceObjectRow(source.Spec.Uri, layer.Key, layer.ETag, layer.Size, layer.LastModified);
        var shown = $"{source.Spec.Uri}/{ImageLayout.Show(layer.Key)}";
        progress?.Invoke(new LayerProgress(layer.Key, 0, layer.Size, LayerPhase.Checking));

        // 1. recorded for this very object, file present: nothing to do
        var recorded = repository.FindBySourceObject(origin.Source, origin.Key, origin.ETag, origin.Size);
        if (recorded is not null)
        {
            var kept = await CheckPresentAsync(recorded, force, shown, context, progress, layer.Key, cancellationToken).ConfigureAwait(false);
            if (kept is not null)
            {
                context.WriteVerbose($"{shown}: already in the store as {kept.Digest}{(force ? " (re-verified)" : "")}.");
                return kept;
            }
        }

        // 2. identical content already stored under another object (plain MD5 ETag + size)
        var md5 = ContentPaths.PlainMd5(layer.ETag);
        if (md5 is not null && repository.FindByMd5(md5, layer.Size, origin.Source) is { } same)
        {
            var kept = await CheckPresentAsync(same, force, shown, context, progress, layer.Key, cancellationToken).ConfigureAwait(false);
            if (kept is not null)
            {
                repository.RecordSourceObject(origin, kept.Digest);
                context.WriteVerbose($"{shown}: identical content (MD5 {md5}, {layer.Size} bytes) is already stored as {kept.Digest}; not downloaded.");
                return kept with { Outcome = force ? FetchOutcome.Reverified : FetchOutcome.Reused };
            }
        }

        // 3. identical content being fetched right now: wait for it
        // (a blob large enough to be checked by a checksum the source announces instead of MD5 is shared only within its source)
        var contentKey = md5 is null ? $"obj:{origin.Source}\n{origin.Key}\n{origin.ETag}\n{origin.Size}"
            : Options.SourceChecksumReplacesMd5(layer.Size) ? $"md5:{md5}:{layer.Size}:{origin.Source}" : $"md5:{md5}:{layer.Size}";
        var verifyMd5 = Options.VerifyMd5 ? md5 : null;
        var mine = new Lazy<Task<BlobInfo>>(() => DownloadAsync(source, origin, verifyMd5, shown, context, progress, incoming, cancellationToken), LazyThreadSafetyMode.ExecutionAndPublication);
        var running = inFlight.GetOrAdd(contentKey, mine);
        if (!ReferenceEquals(running, mine))
        {
            progress?.Invoke(new LayerProgress(layer.Key, 0, layer.Size, LayerPhase.Waiting));
            context.WriteVerbose($"{shown}: identical content is being fetched for another layer; waiting for it.");
            var shared = await running.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            repository.RecordSourceObject(origin, shared.Digest);
            progress?.Invoke(new LayerProgress(layer.Key, layer.Size, layer.Size, LayerPhase.Done));
            return shared with { Outcome = FetchOutcome.Reused };
        }

        try
        {
            return await mine.Value.ConfigureAwait(false);
        }
        finally
        {
            inFlight.TryRemove(new KeyValuePair<string, Lazy<Task<BlobInfo>>>(contentKey, mine));
        }
    }

    /// <summary>Re-hashes a stored blob; true when it still matches its digest.</summary>
    public async Task<bool> VerifyBlobAsync(string digest, CancellationToken cancellationToken)
    {
        var path = BlobPath(digest);
        if (!File.Exists(path))
        {
            return false;
        }

        using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.SequentialScan | FileOptions.Asynchronous, BufferSize = 0 });
        var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return ContentPaths.FormatDigest(hash) == digest;
    }

    private async Task<BlobInfo?> CheckPresentAsync(BlobRecord record, bool force, string shown, IOperationContext context, Action<LayerProgress>? progress, string key, CancellationToken cancellationToken)
    {
        if (!IsPresent(record))
        {
            context.WriteWarning($"{shown}: the store recorded {record.Digest} but its file is missing or has the wrong size; fetching it again.");
            repository.ForgetBlob(record.Digest);
            return null;
        }

        if (!force)
        {
            progress?.Invoke(new LayerProgress(key, record.Size, record.Size, LayerPhase.Done));
            return Info(record, FetchOutcome.Present);
        }

        progress?.Invoke(new LayerProgress(key, 0, record.Size, LayerPhase.Verifying));
        if (await VerifyBlobAsync(record.Digest, cancellationToken).ConfigureAwait(false))
        {
            repository.MarkVerified(record.Digest);
            progress?.Invoke(new LayerProgress(key, record.Size, record.Size, LayerPhase.Done));
            return Info(record, FetchOutcome.Reverified);
        }

        context.WriteWarning($"{shown}: the stored blob {record.Digest} no longer matches its digest (damaged on disk); it is removed and fetched again.");
        DeleteQuietly(BlobPath(record.Digest));
        repository.ForgetBlob(record.Digest);
        return null;
    }

    private async Task<BlobInfo> DownloadAsync(IImageSource source, SourceObjectRow origin, string? md5, string shown, IOperationContext context, Action<LayerProgress>? progress,
        Action<IncomingBlob>? incoming, CancellationToken cancellationToken)
    {
        if (origin.Size > Options.MaxBlobSize)
        {
            throw new FlyException(ErrorIds.BlobTooLarge, FlyErrorCategory.LimitsExceeded,
                $"{shown} is {ByteSize.Format(origin.Size)} ({origin.Size} bytes), larger than the {ByteSize.Format(Options.MaxBlobSize)} a blob may be; it was not downloaded.", origin.Key)
            {
                RecommendedAction = "Raise -MaxBlobSize if this blob is expected.",
            };
        }

        await downloads.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // one process at a time per source object: another Save-FlyImage on this store may be at it
            using var objectLock = await LockObjectAsync(origin, shown, context, cancellationToken).ConfigureAwait(false);
            var done = repository.FindBySourceObject(origin.Source, origin.Key, origin.ETag, origin.Size);
            if (done is not null && IsPresent(done))
            {
                context.WriteVerbose($"{shown}: another process stored it as {done.Digest} meanwhile.");
                progress?.Invoke(new LayerProgress(origin.Key, origin.Size, origin.Size, LayerPhase.Done));
                return Info(done, FetchOutcome.Present);
            }

            // identical content stored meanwhile (an in-flight download of it ended just before this one began)
            var sameContent = md5 is null ? null : repository.FindByMd5(md5, origin.Size, origin.Source);
            if (sameContent is not null && IsPresent(sameContent))
            {
                repository.RecordSourceObject(origin, sameContent.Digest);
                progress?.Invoke(new LayerProgress(origin.Key, origin.Size, origin.Size, LayerPhase.Done));
                return Info(sameContent, FetchOutcome.Reused);
            }

            return await DownloadLockedAsync(source, origin, md5, shown, context, progress, incoming, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            downloads.Release();
        }
    }

    /// <summary>An exclusive advisory lock (flock) on <c>blobs/locks/&lt;hash of source and key&gt;.lock</c>, waited for without limit but cancellable.</summary>
    private async Task<FileStream> LockObjectAsync(SourceObjectRow origin, string shown, IOperationContext context, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(ContentPaths.BlobsRoot(Store.RootPath), "locks");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, ContentPaths.PartialFileName(origin.Source, origin.Key, null).Replace(".part", ".lock", StringComparison.Ordinal));
        var told = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (File.Exists(path))
            {
                if (!told)
                {
                    context.WriteVerbose($"{shown}: another process is fetching it; waiting.");
                    told = true;
                }

                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Keys come from listings but also from piped objects: relative, no dot segments, printable, bounded.</summary>
    private static bool IsSafeKey(string? key)
        => !string.IsNullOrEmpty(key) && key.Length <= ImageLayout.MaxKeyLength && !key.StartsWith('/') && !key.Any(char.IsControl)
            && key.Split('/').All(p => p is not ("" or "." or ".."));

    private bool IsPresent(BlobRecord record)
    {
        var info = new FileInfo(BlobPath(record.Digest));
        return info.Exists && info.Length == record.Size && info.LinkTarget is null;
    }

    private BlobInfo Info(BlobRecord record, FetchOutcome outcome) => new(record.Digest, BlobPath(record.Digest), record.Size, outcome);
}
