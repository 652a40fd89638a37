using System.Collections.Concurrent;
using System.Diagnostics;
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
public sealed class ContentStore
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
    /// Cancellation leaves a partial file that the next call resumes.
    /// </summary>
    public async Task<BlobInfo> FetchLayerAsync(IImageSource source, Layer layer, IOperationContext context, CancellationToken cancellationToken,
        Action<LayerProgress>? progress = null, bool force = false)
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
        if (md5 is not null && repository.FindByMd5(md5, layer.Size) is { } same)
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
        var contentKey = md5 is not null ? $"md5:{md5}:{layer.Size}" : $"obj:{origin.Source}\n{origin.Key}\n{origin.ETag}\n{origin.Size}";
        var verifyMd5 = Options.VerifyMd5 ? md5 : null;
        var mine = new Lazy<Task<BlobInfo>>(() => DownloadAsync(source, origin, verifyMd5, shown, context, progress, cancellationToken), LazyThreadSafetyMode.ExecutionAndPublication);
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

    private async Task<BlobInfo> DownloadAsync(IImageSource source, SourceObjectRow origin, string? md5, string shown, IOperationContext context, Action<LayerProgress>? progress, CancellationToken cancellationToken)
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
            var sameContent = md5 is null ? null : repository.FindByMd5(md5, origin.Size);
            if (sameContent is not null && IsPresent(sameContent))
            {
                repository.RecordSourceObject(origin, sameContent.Digest);
                progress?.Invoke(new LayerProgress(origin.Key, origin.Size, origin.Size, LayerPhase.Done));
                return Info(sameContent, FetchOutcome.Reused);
            }

            return await DownloadLockedAsync(source, origin, md5, shown, context, progress, cancellationToken).ConfigureAwait(false);
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

    private async Task<BlobInfo> DownloadLockedAsync(IImageSource source, SourceObjectRow origin, string? md5, string shown, IOperationContext context, Action<LayerProgress>? progress, CancellationToken cancellationToken)
    {
        var partialDir = ContentPaths.PartialDirectory(Store.RootPath);
        var blobDir = ContentPaths.BlobDirectory(Store.RootPath);
        Directory.CreateDirectory(partialDir);
        Directory.CreateDirectory(blobDir);
        var fileName = ContentPaths.PartialFileName(origin.Source, origin.Key, origin.ETag);
        var partialPath = Path.Combine(partialDir, fileName);

        // a partial download of another version of this object, or with other parts, starts over
        var partial = repository.FindPartial(origin.Source, origin.Key);
        if (partial is not null && (partial.ETag != origin.ETag || partial.Size != origin.Size || partial.FileName != fileName || !File.Exists(partialPath)))
        {
            if (partial.FileName != fileName && IsPartialName(partial.FileName))
            {
                DeleteQuietly(Path.Combine(partialDir, partial.FileName));
            }

            context.WriteVerbose($"{shown}: the interrupted download was of another version of the object (or its file is gone); starting over.");
            repository.DeletePartial(origin.Source, origin.Key);
            partial = null;
        }

        if (partial is null)
        {
            DeleteQuietly(partialPath);
        }

        var open = RangeOpenerFor(source);
        var partSize = partial?.PartSize ?? Options.PartSize;
        var partsDone = partial?.PartsDone;
        for (var attempt = 1; ; attempt++)
        {
            var download = new BlobDownload(open, origin.Key, origin.Size, origin.ETag, md5 is not null, partialPath, partSize, partsDone, Options,
                bitmap => repository.SavePartial(new PartialRecord(origin.Source, origin.Key, origin.ETag, origin.Size, partSize, fileName, bitmap)));
            EnsureFreeSpace(partialDir, origin.Size - download.ResumedBytes, shown, origin.Key);
            if (download.ResumedBytes > 0)
            {
                context.WriteVerbose($"{shown}: resuming an interrupted download, {ByteSize.Format(download.ResumedBytes)} of {ByteSize.Format(origin.Size)} already here.");
            }

            var watch = Stopwatch.StartNew();
            using var reporting = new CancellationTokenSource();
            var reporter = progress is null ? Task.CompletedTask : ReportAsync(download, origin, watch, progress, reporting.Token);
            (byte[] Sha256, byte[]? Md5) hashes;
            try
            {
                hashes = await download.RunAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                progress?.Invoke(new LayerProgress(origin.Key, download.BytesDone, origin.Size, LayerPhase.Failed));
                var failure = MapFailure(e, shown, origin, source);
                if (failure.ErrorId == ErrorIds.SourceObjectChanged)
                {
                    // bytes of another version are of no use to anyone
                    DeleteQuietly(partialPath);
                    repository.DeletePartial(origin.Source, origin.Key);
                }

                throw failure;
            }
            finally
            {
                await reporting.CancelAsync().ConfigureAwait(false);
                await reporter.ConfigureAwait(false);
            }

            var actualMd5 = hashes.Md5 is null ? null : Convert.ToHexString(hashes.Md5).ToLowerInvariant();
            if (md5 is not null && actualMd5 != md5)
            {
                // never stored: the partial file is discarded and the whole blob fetched again
                DeleteQuietly(partialPath);
                repository.DeletePartial(origin.Source, origin.Key);
                partsDone = null;
                partSize = Options.PartSize;
                var what = $"{shown}: the bytes received have MD5 {actualMd5}, not the {md5} its ETag announces";
                if (attempt >= Options.VerifyAttempts)
                {
                    progress?.Invoke(new LayerProgress(origin.Key, 0, origin.Size, LayerPhase.Failed));
                    throw new FlyException(ErrorIds.BlobCorrupt, FlyErrorCategory.InvalidData, $"{what}, in each of {attempt} attempts; nothing was stored.", origin.Key);
                }

                context.WriteWarning($"{what}; discarded, fetching again (attempt {attempt + 1} of {Options.VerifyAttempts}).");
                continue;
            }

            var digest = ContentPaths.FormatDigest(hashes.Sha256);
            var blobPath = BlobPath(digest);
            Commit(partialPath, blobPath, blobDir);
            repository.RecordBlob(digest, origin.Size, actualMd5, origin);
            repository.DeletePartial(origin.Source, origin.Key);
            var seconds = Math.Max(watch.Elapsed.TotalSeconds, 0.001);
            context.WriteVerbose($"{shown}: stored as {digest} ({ByteSize.Format(download.BytesFetched)} in {seconds:0.00} s, {ByteSize.Format((long)(download.BytesFetched / seconds))}/s).");
            progress?.Invoke(new LayerProgress(origin.Key, origin.Size, origin.Size, LayerPhase.Done, download.BytesFetched / seconds));
            return new BlobInfo(digest, blobPath, origin.Size, FetchOutcome.Downloaded);
        }
    }

    /// <summary>S3 bytes go over plain HttpClient (faster than SDK streams); other sources read themselves.</summary>
    private RangeOpener RangeOpenerFor(IImageSource source)
    {
        if (source is S3ImageSource s3 && !Options.UseSdkStreams)
        {
            var reader = new HttpRangeReader(s3, Options.StallTimeout);
            return reader.OpenReadAsync;
        }

        return (key, offset, length, etag, ct) => source.OpenReadAsync(key, offset, length, etag, ct);
    }

    /// <summary>Renames the synced partial file into place (read-only) and syncs the folder.</summary>
    private static void Commit(string partialPath, string blobPath, string blobDir)
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                File.SetUnixFileMode(partialPath, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            // same bytes if it is already there (another process won the race): rename over it is harmless
            File.Move(partialPath, blobPath, overwrite: true);
            Native.Libc.SyncDirectory(blobDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FlyException(ErrorIds.BlobWriteFailed, FlyErrorCategory.WriteError, $"The verified blob could not be moved into '{blobPath}': {e.Message}", blobPath, e);
        }
    }

    private void EnsureFreeSpace(string folder, long needed, string shown, string key)
    {
        long available;
        try
        {
            available = new DriveInfo(folder).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return;
        }

        if (needed + Options.FreeSpaceReserve > available)
        {
            throw new FlyException(ErrorIds.StoreFull, FlyErrorCategory.ResourceUnavailable,
                $"{shown} needs {ByteSize.Format(needed)} but the store's file system has {ByteSize.Format(available)} free (keeping {ByteSize.Format(Options.FreeSpaceReserve)} in reserve); it was not downloaded.", key)
            {
                RecommendedAction = "Free space in the store's file system or use another -StorePath.",
            };
        }
    }

    private static async Task ReportAsync(BlobDownload download, SourceObjectRow origin, Stopwatch watch, Action<LayerProgress> progress, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), stop).ConfigureAwait(false);
                var rate = download.BytesFetched / Math.Max(watch.Elapsed.TotalSeconds, 0.001);
                progress(new LayerProgress(origin.Key, download.BytesDone, origin.Size, LayerPhase.Downloading, rate));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static FlyException MapFailure(Exception e, string shown, SourceObjectRow origin, IImageSource source)
    {
        var inner = e is PartFailedException p ? p.Last : e;
        return inner switch
        {
            FlyException fly => fly,
            SourceObjectChangedException changed => new FlyException(ErrorIds.SourceObjectChanged, FlyErrorCategory.InvalidOperation,
                $"{shown} changed in the source since it was listed ({changed.Message}); nothing was stored.", origin.Key, e)
            {
                RecommendedAction = "List the source again (Get-FlyImage) and retry.",
            },
            LengthMismatchException => new FlyException(ErrorIds.BlobLengthMismatch, FlyErrorCategory.ProtocolError,
                $"{shown}: {source.Location} sent a different number of bytes than it announced ({e.Message}); nothing was stored.", origin.Key, e),
            OperationCanceledException => new FlyException(ErrorIds.OperationCanceled, FlyErrorCategory.OperationStopped, $"{shown}: the download was cancelled.", origin.Key, e),
            UnauthorizedAccessException => new FlyException(ErrorIds.BlobWriteFailed, FlyErrorCategory.PermissionDenied, $"{shown}: the store cannot be written: {e.Message}", origin.Key, e),
            StoreWriteException => new FlyException(ErrorIds.BlobWriteFailed, FlyErrorCategory.WriteError, $"{shown}: {e.Message}", origin.Key, e),
            _ => new FlyException(ErrorIds.BlobDownloadFailed, FlyErrorCategory.ConnectionError,
                $"{shown}: the download from {source.Location} failed: {e.Message}; the bytes received so far are kept and the next attempt resumes.", origin.Key, e)
            {
                RecommendedAction = "Check the source and the network, then run the command again to resume.",
            },
        };
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

    private static bool IsPartialName(string name)
        => name.Length < 100 && name.EndsWith(".part", StringComparison.Ordinal) && !name.StartsWith('.') && name[..^5].All(c => char.IsAsciiHexDigitLower(c) || c == '.');

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
