using System.Diagnostics;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Content;

/// <summary>
/// The download half of the content store: attempts into a partial file (resumed from its recorded
/// parts), verification, the synced rename into <c>blobs/sha256/</c>, limits, and how failures read.
/// </summary>
public sealed partial class ContentStore
{
    private async Task<BlobInfo> DownloadLockedAsync(IImageSource source, SourceObjectRow origin, string? md5, string shown, IOperationContext context, Action<LayerProgress>? progress,
        Action<IncomingBlob>? incoming, CancellationToken cancellationToken)
    {
        // readers of the bytes as they land follow the first attempt only: one that starts over fails them
        var stream = incoming is null ? null : new IncomingBlob(origin.Key, origin.Size);
        try
        {
            if (stream is not null)
            {
                incoming!(stream);
            }

            return await DownloadAttemptsAsync(source, origin, md5, shown, context, progress, stream, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            stream?.Fail(e);
            throw;
        }
    }

    private async Task<BlobInfo> DownloadAttemptsAsync(IImageSource source, SourceObjectRow origin, string? md5, string shown, IOperationContext context, Action<LayerProgress>? progress,
        IncomingBlob? stream, CancellationToken cancellationToken)
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

        // the check: MD5 of a plain-MD5 ETag; for a large blob (or without one) the whole object's checksum the source announces
        ObjectChecksum? expected;
        try
        {
            expected = md5 is null || Options.SourceChecksumReplacesMd5(origin.Size)
                ? await AnnouncedChecksumAsync(source, origin, shown, md5 is not null, context, cancellationToken).ConfigureAwait(false)
                : null;
            expected ??= md5 is null ? null : ObjectChecksum.FromMd5(md5);
        }
        catch (SourceObjectChangedException e)
        {
            // bytes of another version are of no use to anyone
            DeleteQuietly(partialPath);
            repository.DeletePartial(origin.Source, origin.Key);
            throw MapFailure(e, shown, origin, source);
        }

        var open = RangeOpenerFor(source);
        var partSize = partial?.PartSize ?? Options.PartSizeFor(origin.Size);
        var partsDone = partial?.PartsDone;
        var budget = new PartBudget(Options.PartAttempts);
        var wholeObject = false;
        for (var attempt = 1; ; attempt++)
        {
            var download = new BlobDownload(open, origin.Key, origin.Size, origin.ETag, expected?.Algorithm, partialPath, partSize, partsDone, Options, budget, wholeObject,
                bitmap => repository.SavePartial(new PartialRecord(origin.Source, origin.Key, origin.ETag, origin.Size, partSize, fileName, bitmap)))
            {
                Incoming = stream,
            };
            EnsureFreeSpace(partialDir, origin.Size - download.ResumedBytes, shown, origin.Key);
            if (download.ResumedBytes > 0)
            {
                context.WriteVerbose($"{shown}: resuming an interrupted download, {ByteSize.Format(download.ResumedBytes)} of {ByteSize.Format(origin.Size)} already here.");
            }

            var watch = Stopwatch.StartNew();
            using var reporting = new CancellationTokenSource();
            var reporter = progress is null ? Task.CompletedTask : ReportAsync(download, origin, watch, progress, reporting.Token);
            (byte[] Sha256, byte[]? Checksum) hashes;
            try
            {
                hashes = await download.RunAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (e is RangeIgnoredException && !wholeObject)
                {
                    // an S3-compatible server or proxy that answers a ranged GET with 200 and the whole object
                    context.WriteVerbose($"{shown}: {source.Location} ignores Range (a ranged GET was answered 200 with the whole object); fetching it as one verified stream instead.");
                    DeleteQuietly(partialPath);
                    repository.DeletePartial(origin.Source, origin.Key);
                    partsDone = null;
                    partSize = Math.Max(origin.Size, 1);
                    wholeObject = true;
                    budget = new PartBudget(Options.PartAttempts);
                    stream?.Fail(new IOException("the source ignores Range: the object is fetched again as one stream"));
                    stream = null;
                    continue;
                }

                progress?.Invoke(new LayerProgress(origin.Key, download.BytesDone, origin.Size, LayerPhase.Failed));
                repository.CountFetched(download.BytesFetched);
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

            if (expected is not null && (hashes.Checksum is null || !hashes.Checksum.AsSpan().SequenceEqual(expected.Value)))
            {
                // never stored: the partial file is discarded and the whole blob fetched again
                repository.CountFetched(download.BytesFetched);
                DeleteQuietly(partialPath);
                repository.DeletePartial(origin.Source, origin.Key);
                partsDone = null;
                partSize = wholeObject ? partSize : Options.PartSizeFor(origin.Size);
                var got = hashes.Checksum is null ? "no value" : ObjectChecksum.Format(expected.Algorithm, hashes.Checksum);
                var what = $"{shown}: the bytes received have {expected.Name} {got}, not the {expected.Text} {(expected.Algorithm == ChecksumAlgorithm.Md5 ? "its ETag announces" : "the source announces")}";
                if (!budget.CanRetryAll())
                {
                    progress?.Invoke(new LayerProgress(origin.Key, 0, origin.Size, LayerPhase.Failed));
                    throw new FlyException(ErrorIds.BlobCorrupt, FlyErrorCategory.InvalidData,
                        $"{what}, in each of {attempt} downloads (a part is requested at most {Options.PartAttempts} times); nothing was stored.", origin.Key);
                }

                stream?.Fail(new IOException(what));
                stream = null;
                context.WriteWarning($"{what}; discarded, fetching the whole blob again (download {attempt + 1}; a part is requested at most {Options.PartAttempts} times).");
                continue;
            }

            var digest = ContentPaths.FormatDigest(hashes.Sha256);
            var blobPath = BlobPath(digest);
            Commit(partialPath, blobPath, blobDir);
            stream?.Verify(digest);

            // the ETag's MD5, when the bytes matched it, names the content for lookups from any source; checked by another
            // checksum (a CRC is forgeable) it is only this source's claim, for lookups from this source
            repository.RecordBlob(digest, origin.Size, md5, expected?.Algorithm == ChecksumAlgorithm.Md5 ? null : origin.Source, origin, download.BytesFetched);
            repository.DeletePartial(origin.Source, origin.Key);
            var seconds = Math.Max(watch.Elapsed.TotalSeconds, 0.001);
            context.WriteVerbose($"{shown}: stored as {digest} ({ByteSize.Format(download.BytesFetched)} in {seconds:0.00} s, {ByteSize.Format((long)(download.BytesFetched / seconds))}/s, {download.Connections} GETs at once at the end, {ByteSize.Format(partSize)} parts).");
            progress?.Invoke(new LayerProgress(origin.Key, origin.Size, origin.Size, LayerPhase.Done, download.BytesFetched / seconds));
            return new BlobInfo(digest, blobPath, origin.Size, FetchOutcome.Downloaded);
        }
    }

    /// <summary>
    /// The source's own checksum of the whole object (S3's additional checksums: one HEAD): where the ETag is not a plain
    /// MD5 (a multipart upload) or MD5 is off, so the bytes are still checked against what the source holds; for a large
    /// blob with a plain-MD5 ETag (<paramref name="orMd5"/>), as the cheaper check. None when it keeps none; a failure to
    /// ask is not fatal (the bytes are then checked by MD5 if there is one, else for length only).
    /// </summary>
    private static async Task<ObjectChecksum?> AnnouncedChecksumAsync(IImageSource source, SourceObjectRow origin, string shown, bool orMd5, IOperationContext context,
        CancellationToken cancellationToken)
    {
        var otherwise = orMd5 ? "by the MD5 of its ETag" : "for length only";
        try
        {
            var (checksum, why) = await source.GetChecksumAsync(origin.Key, origin.ETag, cancellationToken).ConfigureAwait(false);
            context.WriteVerbose(checksum is null
                ? $"{shown}: {why}; its bytes are checked {otherwise}."
                : $"{shown}: its bytes are checked against the {checksum.Name} checksum {checksum.Text} the source announces{(orMd5 ? " (cheaper than the MD5 of its ETag)" : "")}.");
            return checksum;
        }
        catch (FlyException e) when (!cancellationToken.IsCancellationRequested)
        {
            context.WriteVerbose($"{shown}: its checksums could not be read ({e.Message}); its bytes are checked {otherwise}.");
            return null;
        }
    }

    /// <summary>Each source's ranged read (S3: plain HttpClient); the SDK's streams only when asked, for comparison.</summary>
    private RangeOpener RangeOpenerFor(IImageSource source) => Options.UseSdkStreams
        ? (key, offset, length, etag, ct) => source.OpenReadAsync(key, offset, length, etag, ct)
        : source.OpenRangeAsync;

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
            RangeIgnoredException => new FlyException(ErrorIds.SourceError, FlyErrorCategory.ProtocolError,
                $"{shown}: {source.Location} ignores Range and its whole-object answer did not match the object ({e.Message}); nothing was stored.", origin.Key, e),
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
